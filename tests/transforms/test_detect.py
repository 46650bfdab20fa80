"""DetectFaces: the DoFn called directly, and the stage in a real Beam pipeline."""

from __future__ import annotations

import logging
import math
import pickle
from collections import Counter
from pathlib import Path

import apache_beam as beam
import cv2
import numpy as np
import pytest
import torch
from apache_beam.runners.runner import PipelineResult
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from affectflow.media.frames import iter_sampled_frames
from affectflow.media.tracking import FaceFinder, IoUTracker
from affectflow.models.faces import HaarFaceDetector, crop_face
from affectflow.pipelines.summary import counter_values
from affectflow.schemas.records import (
    ErrorRecord,
    FaceCrop,
    Stage,
    VideoFile,
    VideoRequest,
    VideoStatus,
    VideoSummary,
)
from affectflow.schemas.settings import DetectSettings, MediaLimits, RuntimeSettings
from affectflow.transforms.detect import DetectFaces, DetectFacesFn

VIDEOS = Path(__file__).resolve().parents[1] / "data" / "videos"
PEXELS = VIDEOS / "pyfeat_WolfgangLanger_Pexels.mp4"
CARD_MS = 2400  # pyfeat_face_noface.mov: the title card from here on
CRAFTED = VIDEOS.parent / "crafted"  # tests/data/make_crafted_videos.py


def samples_before(seconds: float, fps: float) -> int:
    """Sampled frames with a timestamp before `seconds`: 0, 1/fps, 2/fps, ..."""
    return math.ceil(round(seconds * fps, 6))


def container_seconds(path: Path) -> float:
    """The clip's length by its container (frame count / rate), not by decoding it."""
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()


def assert_sampled(frames: int, path: Path, fps: float, trim_s: float = 0.0) -> None:
    """`frames` is what the clip's length gives at `fps`, counted from the container and
    not the decoder (golden numbers break on a codec upgrade without saying why): within
    one frame, since the last sample falls where the container's length and the
    decoded one differ (pyfeat_face_noface.mov: 6.402 s in its header, 32 samples)."""
    expected = samples_before(container_seconds(path) - 2 * trim_s, fps)
    assert abs(frames - expected) <= 1, (frames, expected)


def video_file(path: Path, key: str, duration_s: float | None, cohort: str = "a") -> VideoFile:
    request = VideoRequest(video_key=key, url=str(path), cohort=cohort, row_number=0, is_local=True)
    return VideoFile(request, str(path), duration_s, None, None, None)


WEIGHTS: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _mtcnn_weights(mtcnn_weights: str) -> None:
    WEIGHTS["path"] = mtcnn_weights


def detect_settings(**settings: object) -> DetectSettings:
    """DetectSettings with the session's MTCNN weights (the face check needs them)."""
    return DetectSettings(detector_weights_path=WEIGHTS["path"], **settings)  # type: ignore[arg-type]


def run_fn(video: VideoFile, **settings: object) -> list:
    fn = DetectFacesFn(detect_settings(**settings))
    fn.setup()
    return list(fn.process(video))


def split(outputs: list) -> tuple[list[FaceCrop], list[VideoSummary], list[ErrorRecord]]:
    """Outputs of `DetectFacesFn.process` by output: faces, summaries, failed."""
    by_tag: dict[str, list] = {"faces": [], "summaries": [], "failed": []}
    for output in outputs:
        if isinstance(output, FaceCrop):
            by_tag["faces"].append(output)
        else:
            by_tag[output.tag].append(output.value)
    assert len(by_tag["summaries"]) + len(by_tag["failed"]) == 1
    return by_tag["faces"], by_tag["summaries"], by_tag["failed"]


@pytest.mark.slow
def test_faces_stream_out_before_the_summary() -> None:
    fn = DetectFacesFn(detect_settings(fps=5.0, crop_size=48, clahe=True))
    fn.setup()
    outputs = fn.process(video_file(PEXELS, "pexels", 19.69))
    first = next(outputs)  # a face, before the rest of the video is decoded
    assert isinstance(first, FaceCrop) and first.frame_index == 0
    faces, summaries, failed = split([first, *outputs])
    assert not failed
    (summary,) = summaries
    assert summary.status is VideoStatus.OK
    assert summary.faces_detected == len(faces)
    assert_sampled(summary.frames_sampled, PEXELS, fps=5.0)
    assert summary.decoded_s == pytest.approx(19.64, abs=0.05)
    assert summary.tracks >= 1 and summary.seconds > 0
    assert all(f.crop.shape == (48, 48) and f.crop.dtype == np.uint8 for f in faces)
    assert {(f.video_key, f.cohort) for f in faces} == {("pexels", "a")}
    assert {f.track_id for f in faces} <= set(range(summary.tracks))
    for track in range(summary.tracks):  # a track's backlog comes out when it is confirmed
        times = [f.timestamp_ms for f in faces if f.track_id == track]
        assert times == sorted(times), track


def test_trim_longer_than_the_video_fails() -> None:
    outputs = run_fn(video_file(VIDEOS / "pyfeat_single_face.mp4", "k", 2.4), trim_s=1.5)
    (error,) = split(outputs)[2]
    assert error.stage == Stage.FRAMES and "trimming" in error.message


def test_trim_is_accounted_for_in_the_decode_check(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="affectflow.progress")
    outputs = run_fn(video_file(PEXELS, "pexels", 19.69), fps=1.0, trim_s=5.0)
    faces, (summary,), failed = split(outputs)
    assert not failed
    assert_sampled(summary.frames_sampled, PEXELS, fps=1.0, trim_s=5.0)
    assert summary.decoded_s == pytest.approx(14.7, abs=0.1)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "affectflow.progress"]
    frames = summary.frames_sampled
    assert line.startswith(f"video_key=pexels status=ok frames={frames} faces={len(faces)} ")


def test_the_dofn_copies_of_one_process_share_one_mtcnn() -> None:
    """With --device cuda each copy would hold its own nets on the GPU (Beam's Shared).
    A worker's copies are unpickled from the one DoFn of the graph, as here."""
    first = DetectFacesFn(detect_settings())
    second = pickle.loads(pickle.dumps(first))
    first.setup()
    second.setup()
    assert first._checker is second._checker
    assert first._detector is second._detector  # MTCNN is the detector too
    haar = DetectFacesFn(detect_settings(detector="haar", landmark_passes=3))
    haar_copy = pickle.loads(pickle.dumps(haar))
    haar.setup()
    haar_copy.setup()
    assert haar._checker is haar_copy._checker  # the face check shared, Haar per copy
    assert haar._detector is not haar_copy._detector
    # another stage's settings: its own MTCNN, loaded with them
    assert haar._checker is not first._checker
    assert haar._checker.landmark_passes == 3
    assert first._checker.landmark_passes == DetectSettings().landmark_passes


def test_threads_are_set_in_setup_from_the_cores_allowed(monkeypatch) -> None:
    """The stage's threads (OpenCV, torch, so ONNX Runtime) are the settings', else the
    cores of the process's affinity: never the libraries' own count of the machine."""
    before = cv2.getNumThreads(), torch.get_num_threads()
    try:
        DetectFacesFn(detect_settings(runtime=RuntimeSettings(threads=1))).setup()
        assert cv2.getNumThreads() == torch.get_num_threads() == 1
        monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
        DetectFacesFn(detect_settings()).setup()
        assert cv2.getNumThreads() == torch.get_num_threads() == 3
    finally:
        cv2.setNumThreads(before[0])
        torch.set_num_threads(before[1])


def check_faces(faces: list[tuple[str, tuple[int, int]]]) -> None:
    """Faces stream out as found, so videos that fail at the end keep the faces they gave."""
    keys = Counter(key for key, _ in faces)
    assert set(keys) == {"single", "truncated", "too-short"}, keys
    # one face on every sampled frame of the 2.4 s single-face clip (5 fps)
    assert keys["single"] == keys["too-short"] == samples_before(2.4, 5.0)
    assert keys["truncated"] >= 40
    assert {shape for _, shape in faces} == {(64, 64)}


def error_key(error: ErrorRecord) -> tuple[str | None, Stage, str, str]:
    message = "cannot open video" if "cannot open video" in error.message else error.message
    return error.video_key, error.stage, error.error_class, message


@pytest.fixture(scope="module")
def pipeline_result(tmp_path_factory: pytest.TempPathFactory) -> PipelineResult:
    """One FnApiRunner job over good, empty, corrupt, truncated and mis-described videos."""
    folder = tmp_path_factory.mktemp("detect")
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video " * 500)
    truncated = folder / "truncated.mp4"
    data = PEXELS.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    single = VIDEOS / "pyfeat_single_face.mp4"
    videos = [
        video_file(single, "single", 2.4),
        # fer's settings see one false positive on this clip; 7 neighbours see none
        video_file(VIDEOS / "pyfeat_no_face.mp4", "noface", 4.14, cohort="b"),
        video_file(garbage, "garbage", 10.0),
        video_file(truncated, "truncated", 19.69),  # decodes to 9.5 s only
        video_file(single, "too-short", 60.0),  # the source said 60 s
    ]
    pipeline = TestPipeline(runner="FnApiRunner")
    source = pipeline | "Videos" >> beam.Create(videos)
    faces, summaries, failed = source | "DetectFaces" >> DetectFaces(
        detect_settings(fps=5.0, min_neighbors=7)
    )
    # A variable frame rate, and a header that says 2 s of a 20 s file (a stale cache entry
    # or a file without timestamps: the download stage refuses it): decoding stops at 5 s.
    _, bounded, too_long = (
        pipeline
        | "OddVideos"
        >> beam.Create(
            [
                video_file(CRAFTED / "vfr_vp9.webm", "vfr", 3.93),
                video_file(CRAFTED / "lying_duration.mkv", "lying", 2.0),
            ]
        )
        | "Bounded" >> DetectFaces(detect_settings(fps=2.0, limits=MediaLimits(max_duration_s=4.0)))
    )
    assert_that(
        bounded | "BoundedKeys" >> beam.Map(lambda s: (s.video.request.video_key, s.decoded_s)),
        equal_to([("vfr", 3.91)]),
        label="CheckBounded",
    )
    assert_that(
        too_long | "TooLongKeys" >> beam.Map(error_key),
        equal_to(
            [
                (
                    "lying",
                    Stage.FRAMES,
                    "MaxDurationExceeded",
                    "decodes past 5.2 s although its header says 2.0 s, over max_duration 4 s",
                )
            ]
        ),
        label="CheckTooLong",
    )
    # crop_size=0 makes the aligned crop divide by zero: an unexpected error, a dead letter
    _, _, broken = (
        source
        | "OnlySingle" >> beam.Filter(lambda v: v.request.video_key == "single")
        | "BadCrop" >> DetectFaces(detect_settings(crop_size=0))
    )
    assert_that(
        faces | "FaceKeys" >> beam.Map(lambda f: (f.video_key, f.crop.shape)),
        check_faces,
        label="CheckFaces",
    )
    assert_that(
        summaries
        | "SummaryKeys"
        >> beam.Map(lambda s: (s.video.request.video_key, s.status, s.frames_sampled)),
        equal_to([("single", VideoStatus.OK, 12), ("noface", VideoStatus.NO_FACES, 20)]),
        label="CheckSummaries",
    )
    assert_that(
        failed | "FailedKeys" >> beam.Map(error_key),
        equal_to(
            [
                ("garbage", Stage.FRAMES, "FrameDecodeError", "cannot open video"),
                ("truncated", Stage.FRAMES, "IncompleteDecode", "decoded only 9.5 of 19.7 s"),
                ("too-short", Stage.FRAMES, "IncompleteDecode", "decoded only 2.4 of 60.0 s"),
            ]
        ),
        label="CheckFailed",
    )
    assert_that(
        broken | "BrokenKeys" >> beam.Map(lambda e: (e.video_key, e.stage, e.error_class)),
        equal_to([("single", Stage.FACES, "ZeroDivisionError")]),
        label="CheckBroken",
    )
    result = pipeline.run()
    result.wait_until_finish()
    return result


@pytest.mark.slow
def test_pipeline_outputs_and_metrics(pipeline_result: PipelineResult) -> None:
    # the assert_that checks ran inside the job (it fails if they fail); then its counters
    assert counter_values(pipeline_result).get("videos_analyzed", 0) == 3
    assert counter_values(pipeline_result).get("detect_failures", 0) == 4
    faces = counter_values(pipeline_result).get("faces_detected", 0)
    frames = counter_values(pipeline_result).get("frames_sampled", 0)
    assert faces >= 12 + 40 + 12  # single, truncated, too-short; none from BadCrop
    # single 12 + noface 20 + truncated ~48 + too-short 12 + BadCrop's first frame 1, and
    # vfr 8 + lying 11 (to 5 s of its 20 s: decoding stopped there)
    assert 12 + 20 + 45 + 12 + 1 + 19 <= frames <= 12 + 20 + 50 + 12 + 1 + 19


@pytest.mark.slow
def test_fast_path_keeps_the_faces_of_full_size_haar() -> None:
    video = video_file(PEXELS, "pexels", 19.69)
    fast, (fast_summary,), _ = split(
        run_fn(video, fps=5.0, detector="haar", detect_width=480, detect_every=4)
    )
    full, (full_summary,), _ = split(
        run_fn(video, fps=5.0, detector="haar", detect_width=None, detect_every=1)
    )
    assert fast_summary.frames_sampled == full_summary.frames_sampled
    assert len(fast) >= 0.95 * len(full), (len(fast), len(full))
    assert fast_summary.tracks <= full_summary.tracks + 1
    with pytest.raises(ValueError, match="detect_every"):
        DetectSettings(detect_every=0)


def test_crops_are_written_only_when_asked(tmp_path: Path) -> None:
    video = video_file(VIDEOS / "pyfeat_single_face.mp4", "url-0123456789abcdef", 2.4)
    faces, _, _ = split(run_fn(video, fps=5.0))
    assert faces and not any(tmp_path.iterdir())
    faces, _, _ = split(run_fn(video, fps=5.0, debug_crops_dir=str(tmp_path)))
    written = sorted((tmp_path / "url-0123456789abcdef").iterdir())
    assert len(written) == len(faces)
    first = cv2.imread(str(written[0]), cv2.IMREAD_GRAYSCALE)
    assert first.shape == (64, 64)
    assert np.array_equal(first, faces[0].crop)


@pytest.mark.slow
def test_a_title_card_yields_no_labelled_non_face() -> None:
    """A face for 2.4 s, then a title card: an eager Haar boxes the card, the check drops it."""
    clip = VIDEOS / "pyfeat_face_noface.mov"
    eager = {"detector": "haar", "min_neighbors": 1, "detect_width": None, "detect_every": 1}
    haar = HaarFaceDetector(min_neighbors=1)
    unchecked = FaceFinder(haar, IoUTracker())
    card_boxes = sum(
        len(unchecked.find(frame.gray))
        for frame in iter_sampled_frames(str(clip), fps=5.0)
        if frame.timestamp_ms >= CARD_MS
    )
    assert card_boxes >= 3  # what the check has to reject
    faces, (summary,), _ = split(
        run_fn(video_file(clip, "card", None), fps=5.0, min_track_frames=1, **eager)
    )
    assert_sampled(summary.frames_sampled, clip, fps=5.0)
    assert summary.tracks == 1
    # one face on every sampled frame before the card, none on the card
    assert len(faces) == samples_before(CARD_MS / 1000, 5.0)
    assert max(face.timestamp_ms for face in faces) < CARD_MS
    for face in faces:
        assert face.face_score >= 0.7 and 0 < face.quality <= 1 and face.sharpness > 100
        assert face.face_px > 200


def test_faces_below_the_quality_floor_are_dropped() -> None:
    video = video_file(VIDEOS / "pyfeat_single_face.mp4", "single", 2.4)
    kept, _, _ = split(run_fn(video, fps=5.0))
    qualities = sorted(face.quality for face in kept)
    floor = qualities[len(qualities) // 2]
    fewer, _, _ = split(run_fn(video, fps=5.0, min_face_quality=floor, min_track_frames=1))
    assert 0 < len(fewer) < len(kept)
    assert all(face.quality >= floor for face in fewer)


def test_alignment_is_a_setting() -> None:
    video = video_file(VIDEOS / "pyfeat_single_face.mp4", "single", 2.4)
    aligned, _, _ = split(run_fn(video, fps=5.0))
    plain, _, _ = split(run_fn(video, fps=5.0, align=False))
    assert [f.box for f in aligned] == [f.box for f in plain]
    assert all(not np.array_equal(a.crop, p.crop) for a, p in zip(aligned, plain, strict=True))
    grays = {f.frame_index: f.gray for f in iter_sampled_frames(video.path, fps=5.0)}
    for face in plain:  # without alignment: fer's square crop of the box
        assert np.array_equal(face.crop, crop_face(grays[face.frame_index], face.box, 64, 10))


def test_batched_whole_frame_search_gives_the_same_faces() -> None:
    """`detect_batch` (GPU runners) searches frames in batches: same faces as one by one."""
    video = video_file(VIDEOS / "hamilton_short_clip.mp4", "stage", 9.18)
    one, _, _ = split(run_fn(video, fps=2.0))
    batched, _, _ = split(run_fn(video, fps=2.0, detect_batch=4))
    assert len(one) >= 10
    assert [(f.frame_index, f.track_id, f.box) for f in batched] == [
        (f.frame_index, f.track_id, f.box) for f in one
    ]


def test_processing_past_its_deadline_fails_the_video() -> None:
    """--process-timeout bounds decoding and detection: a video still running past it
    fails (stage faces) with what was done."""
    outputs = run_fn(video_file(PEXELS, "url-slow", None), process_timeout_s=1e-9)
    failures = [o.value for o in outputs if getattr(o, "tag", None) == "failed"]
    assert len(failures) == 1 and len(outputs) == 1
    assert (failures[0].stage, failures[0].error_class) == (Stage.FACES, "ProcessTimeout")
    assert failures[0].message.startswith("processing took over 1e-09 s (--process-timeout)")


def test_a_frame_over_max_pixels_fails_the_video(pixel_bomb: Path) -> None:
    outputs = run_fn(video_file(pixel_bomb, "url-bomb", 0.5))
    [failure] = [o.value for o in outputs]
    assert (failure.stage, failure.error_class) == (Stage.FRAMES, "MaxPixelsExceeded")
    assert "over --max-pixels 8,294,400" in failure.message
