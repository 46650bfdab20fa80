"""A harder crowd set for benchmarks/stability.py, made only from the bundled clips.

    python benchmarks/crowd_clips.py OUT_DIR [--seconds 6] [--jpeg-quality 30]
    python benchmarks/stability.py --videos OUT_DIR

Writes three clips into OUT_DIR (made if missing), each frame JPEG-compressed at
`--jpeg-quality` before OpenCV's mp4v encoder, so faces also carry block artefacts:

- `mosaic_3x3.mp4` (960x540): the four talking-head clips of tests/data/videos (the
  Pexels clip, the single-face clip, Carphone, the face/no-face clip) in nine tiles of
  320x180, at several start times, some mirrored: up to nine faces at half to a third
  of their size at once;
- `mosaic_4x4.mp4` (960x540): the same in sixteen tiles of 240x135: up to sixteen
  faces of about 60-80 px;
- `hamilton_075.mp4` (480x270): the crowd clip at 0.75x scale.

Clips shorter than `--seconds` loop (a jump in that tile, as a cut would be). Prints
JSON: each clip written, its size, frames and where its tiles came from. Deterministic
for given arguments and OpenCV build.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
FPS = 25.0
CANVAS = (960, 540)
HEADS = (
    "pyfeat_WolfgangLanger_Pexels.mp4",
    "pyfeat_single_face.mp4",
    "carphone_pristine.mp4",
    "pyfeat_face_noface.mov",
)


def tiles(count: int) -> list[tuple[str, float, bool]]:
    """(clip, start s, mirrored) per tile, row by row: the clips in turn, each turn later
    in its clip (by 6.5 s: the Pexels clip's expressions change) and mirrored every other."""
    return [(HEADS[k % 4], 6.5 * (k // 4), (k // 4) % 2 == 1) for k in range(count)]


def read_clip(
    path: Path, tile: tuple[int, int] | None = None, scale: float = 1.0
) -> tuple[list[np.ndarray], float]:
    """Every frame of `path` (fitted to `tile`, else resized by `scale`) and its frame rate."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(resized(frame, scale) if tile is None else fitted(frame, tile))
    capture.release()
    if not frames:
        raise SystemExit(f"{path}: no frames decoded")
    return frames, fps


def resized(frame: np.ndarray, scale: float) -> np.ndarray:
    height, width = frame.shape[:2]
    size = (round(width * scale), round(height * scale))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def fitted(frame: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """`frame` shrunk (or grown) to fit a (width, height) tile, keeping its shape, centred
    on grey."""
    height, width = frame.shape[:2]
    small = resized(frame, min(tile[0] / width, tile[1] / height))
    out = np.full((tile[1], tile[0], 3), 96, dtype=np.uint8)
    y, x = (tile[1] - small.shape[0]) // 2, (tile[0] - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def compressed(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def write(path: Path, frames: list[np.ndarray], fps: float, quality: int) -> dict:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot write mp4v here")
    for frame in frames:
        writer.write(compressed(frame, quality))
    writer.release()
    return {"clip": path.name, "width": width, "height": height, "frames": len(frames),
            "fps": fps, "bytes": path.stat().st_size}  # fmt: skip


def mosaic(columns: int, seconds: float) -> list[np.ndarray]:
    """Frames of a columns x columns mosaic: each tile its clip from its start time on,
    looped."""
    tile = (CANVAS[0] // columns, CANVAS[1] // columns)
    sources = {name: read_clip(CLIPS / name, tile) for name in HEADS}
    frames = []
    for index in range(round(seconds * FPS)):
        images = []
        for name, start, mirrored in tiles(columns * columns):
            clip, fps = sources[name]
            image = clip[int((start + index / FPS) * fps) % len(clip)]
            images.append(cv2.flip(image, 1) if mirrored else image)
        rows = [np.hstack(images[r : r + columns]) for r in range(0, len(images), columns)]
        frames.append(np.vstack(rows))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="folder to write the clips into")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the mosaics")
    parser.add_argument("--jpeg-quality", type=int, default=30, help="0-100, lower: worse")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for columns in (3, 4):
        path = args.out / f"mosaic_{columns}x{columns}.mp4"
        info = write(path, mosaic(columns, args.seconds), FPS, args.jpeg_quality)
        tiles_used = [f"{n}@{t:g}s{' mirrored' if m else ''}" for n, t, m in tiles(columns**2)]
        written.append({**info, "tiles": tiles_used})
    frames, fps = read_clip(CLIPS / "hamilton_short_clip.mp4", scale=0.75)
    written.append(write(args.out / "hamilton_075.mp4", frames, fps, args.jpeg_quality))
    report = {"benchmark": "crowd_clips", "jpeg_quality": args.jpeg_quality, "clips": written}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
