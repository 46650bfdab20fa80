"""Frame sampling by timestamp on the real test clips."""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import numpy as np
import pytest

from affectflow.media.frames import (
    DecodeProgress,
    DurationExceededError,
    FrameDecodeError,
    SampledFrame,
    iter_sampled_frames,
)

VIDEOS = Path(__file__).resolve().parents[1] / "data" / "videos"
PEXELS = VIDEOS / "pyfeat_WolfgangLanger_Pexels.mp4"  # 23.976 fps, 472 frames, 19.69 s
HAMILTON = VIDEOS / "hamilton_short_clip.mp4"  # 29.97 fps, 275 frames, 9.18 s
SINGLE = VIDEOS / "pyfeat_single_face.mp4"  # 30 fps, 72 frames, 2.4 s
CRAFTED = VIDEOS.parent / "crafted"  # tests/data/make_crafted_videos.py
VFR = sorted(CRAFTED.glob("vfr_*"))  # 79 frames: every 33 ms for 2 s, then 200/33 ms gaps
LYING = CRAFTED / "lying_duration.mkv"  # 80 frames at 4 fps (20 s), its header says 2 s


def sample(path: Path, **kwargs: float) -> tuple[list[SampledFrame], DecodeProgress]:
    progress = DecodeProgress()
    frames = list(iter_sampled_frames(str(path), progress=progress, **kwargs))
    return frames, progress


@pytest.mark.parametrize("path", [PEXELS, HAMILTON], ids=["23.976fps", "29.97fps"])
def test_samples_about_duration_times_fps_evenly_spaced(path: Path) -> None:
    frames, progress = sample(path, fps=10.0)
    assert progress.duration_s is not None
    assert abs(len(frames) - progress.duration_s * 10) <= 1.5
    times = np.array([f.timestamp_ms for f in frames])
    gaps = np.diff(times)
    frame_ms = 1000.0 / progress.source_fps
    assert times[0] == 0
    assert gaps.min() >= 100 - frame_ms and gaps.max() <= 100 + frame_ms
    assert abs(gaps.mean() - 100) < 2
    # every kept frame is the first one at or after its 100 ms instant (times are rounded ms)
    assert all(100 * k - 0.5 <= t < 100 * k + frame_ms + 0.5 for k, t in enumerate(times))
    assert progress.frames_kept == len(frames)
    assert progress.last_timestamp_ms / 1000 > progress.duration_s - 2 * frame_ms / 1000


def test_frames_are_grayscale_source_frames() -> None:
    frames, _ = sample(SINGLE, fps=10.0)
    assert [f.frame_index for f in frames] == list(range(0, 72, 3))
    assert all(f.gray.shape == (360, 640) and f.gray.dtype == np.uint8 for f in frames)
    assert frames[1].timestamp_ms == 100


def test_fps_above_the_source_rate_keeps_every_frame() -> None:
    frames, progress = sample(SINGLE, fps=60.0)
    assert [f.frame_index for f in frames] == list(range(72))
    assert progress.frames_decoded == 72


def test_trim_removes_equal_margins() -> None:
    full, _ = sample(PEXELS, fps=5.0)
    trimmed, progress = sample(PEXELS, fps=5.0, trim_s=2.0)
    end_ms = (progress.duration_s - 2.0) * 1000
    assert trimmed[0].timestamp_ms >= 2000 and trimmed[0].timestamp_ms < 2000 + 200
    assert trimmed[-1].timestamp_ms <= end_ms and trimmed[-1].timestamp_ms > end_ms - 250
    assert abs(len(trimmed) - (len(full) - 2 * 2.0 * 5)) <= 2
    # decoding stops at the end margin instead of running to the end of the file
    assert progress.frames_decoded < 472


def test_trim_longer_than_the_video_yields_nothing() -> None:
    frames, progress = sample(SINGLE, trim_s=1.5)
    assert frames == [] and progress.frames_kept == 0


def test_is_a_lazy_generator() -> None:
    progress = DecodeProgress()
    frames = iter_sampled_frames(str(PEXELS), fps=10.0, progress=progress)
    assert inspect.isgenerator(frames)
    assert progress.frames_decoded == 0  # nothing happens before the first next()
    first = list(itertools.islice(frames, 3))
    assert [f.frame_index for f in first] == [0, 3, 5]
    assert progress.frames_decoded <= 6  # of 472: decoding follows consumption
    frames.close()


def test_unopenable_files_raise_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video " * 500)
    with pytest.raises(FrameDecodeError, match="cannot open video"):
        next(iter_sampled_frames(str(garbage)))
    with pytest.raises(FrameDecodeError, match="no such file"):
        next(iter_sampled_frames(str(tmp_path / "missing.mp4")))


def test_truncated_file_stops_early(tmp_path: Path) -> None:
    half = tmp_path / "half.mp4"
    data = PEXELS.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    frames, progress = sample(half, fps=2.0)
    assert frames  # the first half decodes
    assert progress.last_timestamp_ms / 1000 < 0.75 * progress.duration_s


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="fps"):
        next(iter_sampled_frames(str(SINGLE), fps=0))
    with pytest.raises(ValueError, match="trim_s"):
        next(iter_sampled_frames(str(SINGLE), trim_s=-1))


@pytest.mark.parametrize("path", VFR, ids=lambda p: p.name)
def test_variable_frame_rate_samples_by_timestamp(path: Path) -> None:
    every, progress = sample(path, fps=1000.0)  # every frame, with its own timestamp
    times = [f.timestamp_ms for f in every]
    assert len(times) == progress.frames_decoded == 79
    assert set(np.diff(times[:61])) == {33} and set(np.diff(times[61:])) == {33, 200}
    frames, progress = sample(path, fps=10.0)
    # each 100 ms instant keeps the first frame at or after it: the 200 ms gaps skip one
    expected = sorted({next(t for t in times if t >= k * 100) for k in range(40)})
    assert [f.timestamp_ms for f in frames] == expected
    assert progress.shortfall(3.93) is None  # the detect stage's check passes


def test_decoding_stops_at_the_first_frame_past_max_s() -> None:
    progress = DecodeProgress()
    frames = iter_sampled_frames(str(LYING), fps=2.0, progress=progress, max_s=5.0)
    with pytest.raises(DurationExceededError, match=r"a frame at 5\.2 s, past 5 s"):
        list(frames)
    assert progress.frames_decoded == 22  # of 80
    assert progress.decoded_s == 5.25 and progress.duration_s == 2.0  # what the header says
    whole, _ = sample(LYING, fps=2.0, max_s=20.0)
    assert len(whole) == 40 and whole[-1].timestamp_ms == 19500


def test_frames_over_max_pixels_are_never_decoded(pixel_bomb: Path) -> None:
    from affectflow.media.frames import FrameTooLargeError

    with pytest.raises(FrameTooLargeError, match="4000x4000 = 16,000,000 pixels per frame"):
        next(iter_sampled_frames(str(pixel_bomb), fps=1, max_pixels=3840 * 2160))
    frames = list(iter_sampled_frames(str(pixel_bomb), fps=10, max_pixels=16_000_000))
    assert [frame.gray.shape for frame in frames] == [(4000, 4000)] * 5
