"""probe_video / validate_video on the real clips and on broken copies of them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from affectflow.media.probe import InvalidVideoError, probe_video, validate_video

DATA = Path(__file__).resolve().parents[1] / "data"
PEXELS = DATA / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4"
HAMILTON = DATA / "videos" / "hamilton_short_clip.mp4"


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


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidVideoError, match="no such file"):
        probe_video(str(tmp_path / "nope.mp4"))


def test_expected_duration_from_the_source() -> None:
    # yt-dlp reports whole seconds: 20 s for a 19.69 s file is fine, 30 s is not.
    assert validate_video(str(PEXELS), expected_duration_s=20).frame_count == 472
    with pytest.raises(InvalidVideoError, match=r"source says 30\.00 s"):
        validate_video(str(PEXELS), expected_duration_s=30)
