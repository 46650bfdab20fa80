"""probe_video / validate_video on the real clips and on broken copies of them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from affectflow.media.probe import InvalidVideoError, probe_video, scan_packets, validate_video

DATA = Path(__file__).resolve().parents[1] / "data"
PEXELS = DATA / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4"
HAMILTON = DATA / "videos" / "hamilton_short_clip.mp4"
# tests/data/make_crafted_videos.py: 79 frames, every 33 ms for 2 s, then 200/33 ms gaps
VFR = sorted((DATA / "crafted").glob("vfr_*"))
LYING = DATA / "crafted" / "lying_duration.mkv"  # 80 frames at 4 fps (20 s), header: 2 s


def _top_level_boxes(path: Path) -> list[str]:
    """The MP4 top-level box types, in file order."""
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def _cut(source: Path, fraction: float, tmp_path: Path) -> Path:
    data = source.read_bytes()
    target = tmp_path / f"cut{int(fraction * 100)}_{source.name}"
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def test_probe_reads_the_container() -> None:
    probe = probe_video(str(PEXELS))
    assert (probe.width, probe.height, probe.frame_count) == (640, 360, 472)
    assert probe.fps == pytest.approx(23.976, abs=1e-3)
    assert probe.duration_s == pytest.approx(19.69, abs=0.01)


@pytest.mark.parametrize("path", sorted((DATA / "videos").iterdir()), ids=lambda p: p.name)
def test_every_real_clip_validates(path: Path) -> None:
    probe = validate_video(str(path))
    assert probe.frame_count > 10 and probe.width > 0


@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_truncated_faststart_file_is_caught_though_its_header_lies(
    fraction: float, tmp_path: Path
) -> None:
    # moov before mdat: the truncated copy still opens and announces all 472 frames.
    assert _top_level_boxes(PEXELS)[:3] == ["ftyp", "moov", "mdat"]
    cut = _cut(PEXELS, fraction, tmp_path)
    assert probe_video(str(cut)).frame_count == 472
    with pytest.raises(InvalidVideoError, match="truncated or corrupt"):
        validate_video(str(cut))


def test_truncated_file_with_index_at_the_end_does_not_open(tmp_path: Path) -> None:
    assert _top_level_boxes(HAMILTON)[-1] == "moov"
    with pytest.raises(InvalidVideoError, match="not a video OpenCV can open"):
        validate_video(str(_cut(HAMILTON, 0.5, tmp_path)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (bytes(range(256)) * 400, "not a video OpenCV can open"),
        (b"<html><body>no video here</body></html>", "not a video OpenCV can open"),
        ((DATA / "faces" / "single_face.jpg").read_bytes(), "still image"),
    ],
    ids=["zero-bytes", "garbage", "html", "image"],
)
def test_non_videos_are_rejected(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(InvalidVideoError, match=message) as caught:
        validate_video(str(path))
    assert caught.value.path == str(path) and caught.value.reason


def test_a_still_image_is_a_one_frame_video_when_asked() -> None:
    probe = validate_video(str(DATA / "faces" / "single_face.jpg"), still=True)
    assert probe.frame_count == 1 and probe.width > 0 and probe.height > 0


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidVideoError, match="no such file"):
        probe_video(str(tmp_path / "nope.mp4"))


def test_expected_duration_from_the_source() -> None:
    # yt-dlp reports whole seconds: 20 s for a 19.69 s file is fine, 30 s is not.
    assert validate_video(str(PEXELS), expected_duration_s=20).frame_count == 472
    with pytest.raises(InvalidVideoError, match=r"source says 30\.00 s"):
        validate_video(str(PEXELS), expected_duration_s=30)


def test_the_crafted_files_are_there() -> None:
    assert [p.name for p in VFR] == ["vfr_h264.mkv", "vfr_h264.mp4", "vfr_vp8.webm", "vfr_vp9.webm"]


@pytest.mark.parametrize("path", VFR, ids=lambda p: p.name)
def test_variable_frame_rate_files_validate(path: Path) -> None:
    probe = validate_video(str(path))
    # the frames counted, not the header's guess (duration x nominal rate: 118 in Matroska)
    assert probe.frame_count == 79
    assert probe.duration_s == pytest.approx(3.93, abs=0.05)


@pytest.mark.parametrize("path", VFR, ids=lambda p: p.name)
def test_truncated_variable_frame_rate_files_are_caught(path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidVideoError, match=r"truncated or corrupt|OpenCV can open"):
        validate_video(str(_cut(path, 0.5, tmp_path)))


def test_a_header_that_understates_the_duration_is_seen_through() -> None:
    assert probe_video(str(LYING)).duration_s == 2.0
    probe = validate_video(str(LYING))
    assert (probe.header_duration_s, probe.duration_s, probe.frame_count) == (2.0, 19.75, 80)


def test_reading_stops_at_the_first_frame_past_max_duration() -> None:
    probe = validate_video(str(LYING), max_duration_s=5.0)
    assert probe.header_duration_s == 2.0
    # packets come in decoding order (B-frames): the first past 5 s is within a frame or two
    assert 5.0 < probe.duration_s <= 5.75 and probe.frame_count < 25  # of 80: reading stopped
    assert scan_packets(str(LYING), stop_after_s=5.0).packets == probe.frame_count


def test_a_long_video_is_read_only_up_to_max_duration() -> None:
    probe = validate_video(str(PEXELS), max_duration_s=10.0)  # 19.69 s: too long
    assert probe.duration_s == pytest.approx(19.69, abs=0.01) and probe.frame_count < 250
    assert validate_video(str(PEXELS), max_duration_s=20.0).frame_count == 472


def test_frames_over_max_pixels_are_refused_by_the_header(pixel_bomb: Path) -> None:
    """A 0.6 MB MJPEG of 4000x4000 frames: refused before a packet is read or decoded."""
    from affectflow.media.probe import FrameTooLargeError
    from affectflow.schemas.settings import MAX_PIXELS

    with pytest.raises(FrameTooLargeError) as error:
        validate_video(str(pixel_bomb), max_pixels=MAX_PIXELS)
    assert error.value.reason == (
        "its stream header says 4000x4000 = 16,000,000 pixels per frame, "
        "over --max-pixels 8,294,400"
    )
    assert validate_video(str(pixel_bomb), max_pixels=16_000_000).width == 4000
