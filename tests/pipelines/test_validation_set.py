"""Labelled sets: layouts, subjects, label synonyms, refusals (pipelines/validation_set.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from affectflow.models.registry import get_model_spec
from affectflow.pipelines.validation_set import map_labels, read_labelled, set_fingerprint

FACE = Path(__file__).resolve().parents[1] / "data" / "faces" / "single_face.jpg"
LABELS = get_model_spec("fer-minixception").labels


def test_folder_layout_with_and_without_subject_folders(tmp_path) -> None:
    (tmp_path / "Happiness" / "anna").mkdir(parents=True)
    (tmp_path / "surprised").mkdir()
    shutil.copyfile(FACE, tmp_path / "Happiness" / "anna" / "a.jpg")
    shutil.copyfile(FACE, tmp_path / "surprised" / "b.png")
    (tmp_path / "surprised" / "notes.txt").write_text("not an image")
    items = map_labels(read_labelled(str(tmp_path)), LABELS)
    assert [(i.label, i.subject, i.cluster == i.location) for i in items] == [
        ("happy", "anna", False),
        ("surprise", None, True),
    ]
    assert all(Path(i.location).is_absolute() and i.video_key.startswith("local-") for i in items)


def test_csv_rows_relative_paths_stretches_and_fingerprint(tmp_path) -> None:
    shutil.copyfile(FACE, tmp_path / "a.jpg")
    source = tmp_path / "set.csv"
    source.write_text("path,label,subject,start_s,end_s\na.jpg,ANGRY,s1,,\na.jpg,sad,s1,1,2\n")
    items = map_labels(read_labelled(str(source)), LABELS)
    assert [(i.label, i.start_s, i.end_s) for i in items] == [("angry", None, None), ("sad", 1, 2)]
    assert items[0].video_key == items[1].video_key  # one file, analysed once
    first = set_fingerprint(items)
    assert set_fingerprint(items[::-1]) == first
    source.write_text("path,label,subject,start_s,end_s\na.jpg,angry,s1,,\na.jpg,happy,s1,1,2\n")
    assert set_fingerprint(map_labels(read_labelled(str(source)), LABELS)) != first


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,label\na.jpg,boredom\na.jpg,boredom\n", r"does not have: boredom \(2\)"),
        ("path,label\na.jpg,\n", r"\(empty\)"),
        ("path\na.jpg\n", "needs a label column"),
        ("path,label,start_s,end_s\na.jpg,sad,3,1\n", "before start_s"),
        ("path,label,start_s\na.jpg,sad,soon\n", "not a number"),
        ("path,label\nmissing.jpg,sad\n", "does not exist"),
    ],
)
def test_bad_sets_are_refused_with_one_line(tmp_path, text, message) -> None:
    shutil.copyfile(FACE, tmp_path / "a.jpg")
    source = tmp_path / "set.csv"
    source.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        map_labels(read_labelled(str(source)), LABELS)
    assert "\n" not in str(caught.value)
