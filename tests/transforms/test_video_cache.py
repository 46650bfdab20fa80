"""The video cache: downloads deleted after analysis unless kept, a size cap, safe keys."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from affectflow.schemas.records import (
    ErrorRecord,
    Stage,
    VideoFile,
    VideoRequest,
    VideoSummary,
)
from affectflow.schemas.settings import DownloadSettings
from affectflow.transforms.video_cache import (
    ReleaseVideoFn,
    check_video_key,
    delete_cached_video,
    evict_to_cap,
)

CLIP = Path(__file__).resolve().parents[1] / "data" / "videos" / "pyfeat_single_face.mp4"


def _cache(tmp_path: Path, *keys: str) -> Path:
    videos = tmp_path / "dl" / "videos"
    videos.mkdir(parents=True)
    for age, key in enumerate(keys):
        shutil.copyfile(CLIP, videos / f"{key}.mp4")
        (videos / f"{key}.json").write_text("{}")
        os.utime(videos / f"{key}.mp4", (1000 + age, 1000 + age))
    return videos


def _summary(key: str, path: str, is_local: bool = False) -> VideoSummary:
    request = VideoRequest(key, path, "a", 1, is_local=is_local)
    video = VideoFile(request, path, 2.4, 30.0, 640, 360)
    return VideoSummary(video, 24, 24, 1, 2.4, 0.5)


def _release(fn: ReleaseVideoFn, item: object) -> list[str]:
    fn.setup()
    return list(fn.process(item))


def test_analysed_and_failed_downloads_are_deleted(tmp_path: Path) -> None:
    videos = _cache(tmp_path, "url-aaaa", "url-bbbb", "url-cccc")
    fn = ReleaseVideoFn(
        DownloadSettings(cache_dir=str(tmp_path / "dl"), keep_videos=False, cache_max_bytes=None)
    )
    assert _release(fn, _summary("url-aaaa", str(videos / "url-aaaa.mp4"))) == ["url-aaaa"]
    failed = ErrorRecord(
        Stage.FRAMES, "IncompleteDecode", "decoded 1 of 2 s", False, "u", "url-bbbb"
    )
    assert _release(fn, failed) == ["url-bbbb"]
    assert sorted(p.name for p in videos.iterdir()) == ["url-cccc.json", "url-cccc.mp4"]


def test_keep_videos_keeps_them_and_local_files_are_never_deleted(tmp_path: Path) -> None:
    videos = _cache(tmp_path, "url-aaaa")
    own = tmp_path / "mine.mp4"
    shutil.copyfile(CLIP, own)
    kept = ReleaseVideoFn(
        DownloadSettings(cache_dir=str(tmp_path / "dl"), keep_videos=True, cache_max_bytes=None)
    )
    assert _release(kept, _summary("url-aaaa", str(videos / "url-aaaa.mp4"))) == []
    dropping = ReleaseVideoFn(
        DownloadSettings(cache_dir=str(tmp_path / "dl"), keep_videos=False, cache_max_bytes=None)
    )
    assert _release(dropping, _summary("local-aaaa", str(own), is_local=True)) == []
    assert own.is_file() and (videos / "url-aaaa.mp4").is_file()


def test_size_cap_evicts_the_oldest_first(tmp_path: Path) -> None:
    videos = _cache(tmp_path, "url-old", "url-mid", "url-new")
    size = CLIP.stat().st_size
    assert evict_to_cap(videos, 2 * size) == ["url-old"]
    fn = ReleaseVideoFn(
        DownloadSettings(cache_dir=str(tmp_path / "dl"), keep_videos=True, cache_max_bytes=size)
    )
    _release(fn, _summary("url-new", str(videos / "url-new.mp4")))
    assert sorted(p.name for p in videos.iterdir()) == ["url-new.json", "url-new.mp4"]


@pytest.mark.parametrize("key", ["../../etc/passwd", "url-*", "", "url-a/b", "youtube-x y"])
def test_only_real_video_keys_name_files(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="is not a video key"):
        check_video_key(key)
    with pytest.raises(ValueError):
        delete_cached_video(tmp_path, key)
