"""Per-item predictions, the validations row and its card, on hand-made items."""

from __future__ import annotations

import pyarrow as pa
import pytest

from affectflow.models.registry import get_model_spec
from affectflow.pipelines.validation_card import render
from affectflow.pipelines.validation_results import Face, predicted_label, validation_row
from affectflow.pipelines.validation_set import LabelledItem
from affectflow.schemas.records import VideoStatus
from affectflow.schemas.tables import VALIDATIONS
from affectflow.warehouse.validations import check_name, read_validations, write_validation

SPEC = get_model_spec("fer-minixception")


def _item(label: str, subject: str | None = None, start=None, end=None) -> LabelledItem:
    return LabelledItem(f"/x/{label}-{subject}.jpg", "local-k", label, subject, start, end)


def test_the_main_track_within_the_stretch_votes() -> None:
    faces = [
        Face(0, 0, "sad", 0.9, 100),
        Face(1, 0, "happy", 0.5, 900),  # one frame, larger: loses to the longer track
        Face(0, 100, "neutral", 0.6, 100),
        Face(0, 200, "neutral", 0.7, 100),
        Face(0, 5000, "angry", 0.9, 100),  # outside the stretch
    ]
    assert predicted_label(faces, _item("sad", start=0, end=1)) == "neutral"
    assert predicted_label(faces, _item("sad", start=4, end=6)) == "angry"
    assert predicted_label(faces, _item("sad", start=9, end=10)) is None
    tie = [Face(0, 0, "sad", 0.9, 1), Face(0, 1, "happy", 0.4, 1)]
    assert predicted_label(tie, _item("sad")) == "sad"  # tie: the larger summed score


def test_the_row_fits_the_schema_round_trips_and_renders(tmp_path) -> None:
    items = [_item("happy", "a"), _item("sad", "a"), _item("neutral", "b"), _item("sad", "c")]
    predicted = ["happy", "neutral", None, VideoStatus.FAILED]
    run = {"analysis_id": "abc", "model_id": SPEC.name, "weights_sha256": "00"}
    row = validation_row(name="set", fingerprint="f" * 64, items=items, predicted=predicted,
                         spec=SPEC, run=run, n_boot=50, seed=1)  # fmt: skip
    assert row["n"] == 3 and row["n_failed"] == 1 and row["clusters"] == 2
    assert row["detection_rate"] == pytest.approx(2 / 3) and row["accuracy"] == 0.5
    pa.Table.from_pylist([row], schema=VALIDATIONS)  # every field has its type
    write_validation(str(tmp_path), row)
    (back,) = read_validations(str(tmp_path))
    assert back["confusion"] == row["confusion"] and back["uar"] == row["uar"]
    text = render(back, "table")
    assert "2/3" in text and "1 unreadable, left out" in text and "sensitivity" in text
    assert "<pre>" in render(back, "html") and '"items"' not in render(back, "json")


@pytest.mark.parametrize("name", ["", "../up", "a b", "x" * 65])
def test_bad_set_names_are_refused(name) -> None:
    with pytest.raises(ValueError, match="validation name"):
        check_name(name)
