"""Stage 5, infer: classify the emotion of each face crop with RunInference.

One RunInference does it all, through its handler (`classify_handler`): its
preprocessing turns face crops into `(face, tensor)` pairs, a keyed PyTorch handler runs
the model in batches, and its postprocessing turns each result into a `faces` row with
per-class probabilities, the top label, the model id and the weights' sha256. Its dead
letters (preprocessing, inference, postprocessing) become one `errors` row per face.

A batch holds the faces of one video (`BatchPerVideoFn`, up to the batch size): a
video's last batch goes to the model with its last face (marked by detection), so each
video finishes right after its detection, whatever comes next. Beam's own batching
(`batch_across_videos`) waits to fill every batch across videos: with short clips
videos then finish in bursts (64 faces: about a dozen clips at a time).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import torch
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)
from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerTensor
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from affectflow.models.channels_last import channels_last
from affectflow.models.flip import FlipAveraged
from affectflow.models.installed import weights_to_load
from affectflow.models.registry import ModelSpec
from affectflow.models.threads import available_cores, set_threads
from affectflow.schemas.records import ErrorRecord, FaceCrop, RunInfo, Stage
from affectflow.schemas.rows import face_row
from affectflow.schemas.settings import ClassifySettings
from affectflow.transforms.dead_letters import dead_letter_to_error
from affectflow.transforms.metrics import counter
from affectflow.warehouse.layout import NotReadableHere, exists_here

DEVICES = ("cpu", "cuda")


def check_device(device: str) -> str:
    """Beam's device name for ours; fail loudly instead of silently running on CPU."""
    beam_device(device)
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "--device cuda was asked for but torch sees no CUDA device "
            f"(torch {torch.__version__}); install a CUDA build of torch or use --device cpu"
        )
    return "GPU" if device == "cuda" else "CPU"


def beam_device(device: str) -> str:
    """Beam's device name for ours (checked where the model loads: `check_device`)."""
    if device not in DEVICES:
        raise ValueError(f"--device must be one of {DEVICES}, not {device!r}")
    return "GPU" if device == "cuda" else "CPU"


def check_weights(path: str) -> None:
    """RuntimeError unless this machine can open `path` through Beam FileSystems, as the
    handler does (a URI's filesystem needs its extra: `apache-beam[gcp]` for gs://)."""
    try:
        exists = exists_here(path)
    except NotReadableHere as error:
        raise RuntimeError(
            f"the model's weights {path} cannot be opened where the workers run: {error}"
        ) from error
    if not exists:
        raise RuntimeError(f"the model's weights {path} do not exist where the workers run")


class ThreadBoundTorchHandler(PytorchModelHandlerTensor):
    """PyTorch tensor handler loaded where it runs: on the worker, not the launcher.

    `load_model` checks the device there (Beam's own handler would fall back to the CPU
    without a word) and reads the weights through Beam FileSystems (a local path, or a
    gs:// or s3:// URI the workers can read); torch runs on `num_threads` threads
    (None: the cores available to the process). On the CPU the model runs channels-last
    (`models/channels_last.py`: same outputs, about 4 times faster).
    """

    def __init__(
        self, *args: Any, num_threads: int | None = None, weights_sha256: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._num_threads = num_threads
        self._device_name = "cuda" if str(kwargs.get("device", "CPU")).upper() == "GPU" else "cpu"
        self._weights = kwargs.get("state_dict_path") or ""
        self._weights_sha256 = weights_sha256

    def load_model(self) -> torch.nn.Module:
        check_device(self._device_name)
        if self._weights:
            path = weights_to_load(self._weights, self._weights_sha256)  # `installed:`: the image's
            check_weights(path)
            self.update_model_path(path)
        set_threads(self._num_threads or available_cores())
        model = super().load_model()
        return channels_last(model) if self._device_name == "cpu" else model


def to_model_input(spec: ModelSpec, face: FaceCrop) -> tuple[FaceCrop, torch.Tensor]:
    """FaceCrop -> (FaceCrop without its pixels, model input tensor): the handler's
    preprocessing (ValueError for a crop the model cannot take)."""
    tensor = torch.from_numpy(spec.preprocess(face.crop))
    return dataclasses.replace(face, crop=None), tensor


def batch_to_model_input(
    spec: ModelSpec, faces: list[FaceCrop]
) -> list[tuple[FaceCrop, torch.Tensor]]:
    """`to_model_input` of each face of a batch (the prebatched handler preprocesses batches)."""
    return [to_model_input(spec, face) for face in faces]


class BatchPerVideoFn(beam.DoFn):
    """FaceCrops -> lists of them, each of one video and at most `batch_size` long. A
    video's faces arrive together (one detection call yields them all), so a batch is
    complete when it is full, when it holds the video's last face
    (`FaceCrop.last_of_video`) or when the next video's face arrives."""

    def __init__(self, batch_size: int) -> None:
        self._batch_size = batch_size

    def start_bundle(self) -> None:
        self._batch: list[FaceCrop] = []

    def process(self, face: FaceCrop) -> Iterator[list[FaceCrop]]:
        if self._batch and self._batch[0].video_key != face.video_key:
            yield self._batch
            self._batch = []
        self._batch.append(face)
        if len(self._batch) >= self._batch_size or face.last_of_video:
            yield self._batch
            self._batch = []

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self._batch:
            yield GlobalWindows.windowed_value_at_end_of_window(self._batch)
            self._batch = []


# Made once: the postprocessing runs per face. A Beam counter object only names the metric;
# `inc` reports it to the container of the bundle running at the time.
FACES_CLASSIFIED = counter("faces_classified")


def to_face_row(
    labels: tuple[str, ...], run: RunInfo, keyed: tuple[FaceCrop, PredictionResult]
) -> dict:
    """(FaceCrop, PredictionResult) -> a `faces` row: the handler's postprocessing."""
    face, result = keyed
    row = face_row(face, result.inference.tolist(), labels, run)
    FACES_CLASSIFIED.inc()
    return row


def faces_of(element: Any) -> list[FaceCrop]:
    """The faces of a dead letter of RunInference: a face or a batch of them (before the
    model), (face, tensor) pairs (a batch the model could not run) or a (face, result)."""
    if isinstance(element, FaceCrop):
        return [element]
    if isinstance(element, tuple):
        return faces_of(element[0])
    return [face for item in element for face in faces_of(item)]


def face_errors(bad: tuple[Any, tuple[Any, str, Any]]) -> Iterator[ErrorRecord]:
    """One ErrorRecord (stage infer) per face of a RunInference dead letter."""
    element, exc_info = bad
    for face in faces_of(element):
        yield dead_letter_to_error((face, exc_info), Stage.INFER)


def model_builder(spec: ModelSpec, flip_average: bool) -> tuple[type, dict[str, Any]]:
    """(model_class, model_params) for Beam's handler: the spec's model, flip-averaged or not."""
    if flip_average:
        return FlipAveraged, {"model_class": spec.model_class, **spec.model_params}
    return spec.model_class, dict(spec.model_params)


def classify_handler(spec: ModelSpec, run: RunInfo, settings: ClassifySettings) -> ModelHandler:
    """RunInference's handler: crops -> tensors (preprocessing), the keyed model, and
    predictions -> `faces` rows (postprocessing). Per-video batches come prebatched
    (`with_no_batching`), so their preprocessing takes a batch."""
    model_class, model_params = model_builder(spec, settings.flip_average)
    handler = KeyedModelHandler(
        ThreadBoundTorchHandler(
            state_dict_path=settings.weights_path,
            weights_sha256=settings.weights_sha256,
            model_class=model_class,
            model_params=model_params,
            device=beam_device(settings.runtime.device),
            min_batch_size=settings.batch_size,
            max_batch_size=settings.batch_size,
            load_model_args={"weights_only": True},
            num_threads=settings.runtime.threads,
            model_copies=settings.model_copies,
        )
    )
    to_rows = functools.partial(to_face_row, spec.labels, run)
    if settings.batch_across_videos:
        return handler.with_preprocess_fn(
            functools.partial(to_model_input, spec)
        ).with_postprocess_fn(to_rows)
    return (
        handler.with_preprocess_fn(functools.partial(batch_to_model_input, spec))
        .with_postprocess_fn(to_rows)
        .with_no_batching()
    )


class ClassifyEmotions(beam.PTransform):
    """PCollection[FaceCrop] -> (faces rows, failed ErrorRecords).

    RunInference with exception handling does it all; each face of its dead letters
    becomes an `errors` row (stage infer): a crop that cannot become a tensor (with
    per-video batches: every face of its batch, as Beam preprocesses prebatched input a
    batch at a time), a batch the model could not run, a prediction that makes no row.
    With `settings.flip_average` each face's probabilities are the mean over its crop and
    the mirrored crop. `split_failures`: the failures as a tuple of PCollections, not
    flattened into one.
    """

    def __init__(
        self,
        spec: ModelSpec,
        run: RunInfo,
        settings: ClassifySettings,
        *,
        split_failures: bool = False,
    ) -> None:
        super().__init__()
        self._split_failures = split_failures
        self._batch_size = settings.batch_size
        self._per_video = not settings.batch_across_videos
        self._handler = classify_handler(spec, run, settings)

    def expand(self, faces: beam.PCollection) -> tuple[beam.PCollection, Any]:
        if self._per_video:
            faces = faces | "BatchPerVideo" >> beam.ParDo(BatchPerVideoFn(self._batch_size))
        rows, dead = faces | "RunInference" >> RunInference(self._handler).with_exception_handling()
        letters = (*dead.failed_preprocessing, dead.failed_inferences, *dead.failed_postprocessing)
        failed = tuple(
            pcoll | f"FaceErrors{index}" >> beam.FlatMap(face_errors)
            for index, pcoll in enumerate(letters)
        )
        if self._split_failures:  # no Flatten: batch runners run one after its inputs finish
            return rows, failed
        return rows, failed | "FlattenFailed" >> beam.Flatten()
