"""What the instrument said about each labelled face, and the validation's figures.

Per item, the faces its video (a photo: one frame) gave within its stretch: the track
seen on most face-frames (ties: the larger box), and the mode of that track's
`smoothed_label` (ties: the larger summed `smoothed_score`). No face: a miss. A file the
pipeline could not read (a `failed` video) is left out of the figures and counted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from affectflow.models.registry import ModelSpec
from affectflow.pipelines.validation_set import LabelledItem
from affectflow.queries import misclassification as mc
from affectflow.queries.runner import connect
from affectflow.schemas.records import VideoStatus
from affectflow.schemas.tables import VALIDATION_FIGURES


@dataclasses.dataclass(frozen=True)
class Face:
    track_id: int
    timestamp_ms: int
    label: str
    score: float
    area: int


def _read(warehouse: str, analysis_id: str, keys: list[str]) -> tuple[dict, dict]:
    """(status per video key, faces per video key) of one analysis in `warehouse`."""
    con = connect(warehouse)
    params = {"analysis": analysis_id, "keys": keys}
    status = dict(
        con.execute(
            "select video_key, status from latest_videos "
            "where analysis_id = $analysis and video_key in (select unnest($keys))",
            params,
        ).fetchall()
    )
    faces: dict[str, list[Face]] = defaultdict(list)
    rows = con.execute(
        "select video_key, track_id, timestamp_ms, smoothed_label, smoothed_score, "
        "bbox_w * bbox_h from faces "
        "where analysis_id = $analysis and video_key in (select unnest($keys))",
        params,
    ).fetchall()
    for key, *face in rows:
        faces[key].append(Face(*face))
    return status, faces


def predicted_label(faces: Sequence[Face], item: LabelledItem) -> str | None:
    """The mode of `smoothed_label` on the item's main track within its stretch; None: none."""
    start = -np.inf if item.start_s is None else item.start_s * 1000
    end = np.inf if item.end_s is None else item.end_s * 1000
    tracks: dict[int, list[Face]] = defaultdict(list)
    for face in faces:
        if start <= face.timestamp_ms <= end:
            tracks[face.track_id].append(face)
    if not tracks:
        return None
    main = max(tracks.values(), key=lambda t: (len(t), sum(f.area for f in t)))
    votes: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for face in main:
        votes[face.label][0] += 1
        votes[face.label][1] += face.score
    return max(votes, key=lambda label: tuple(votes[label]))


def predictions(
    warehouse: str, analysis_id: str, items: Sequence[LabelledItem]
) -> list[str | None]:
    """Per item: the predicted label, None (no face found) or `VideoStatus.FAILED` (its
    video failed: an unreadable file)."""
    keys = sorted({item.video_key for item in items})
    status, faces = _read(warehouse, analysis_id, keys)
    failed = VideoStatus.FAILED  # no videos row counts as failed too
    return [
        failed if status.get(item.video_key, failed) == failed
        else predicted_label(faces.get(item.video_key, []), item)
        for item in items
    ]  # fmt: skip


def valence_masks(spec: ModelSpec) -> dict[str, np.ndarray]:
    """The negative labels under each valence map, as masks over the model's labels."""
    return {
        "paper": np.array([spec.valence[label] == "negative" for label in spec.labels]),
        "excl_surprise": np.array(
            [spec.valence_ambiguous[label] == "negative" for label in spec.labels]
        ),
    }


def _pseudonym(salt: bytes, cluster: str) -> str:
    """A code for a subject (or image): equal within one row, unlinkable to the name (the
    salt is random and never stored)."""
    return hashlib.sha256(salt + cluster.encode()).hexdigest()[:16]


def _listed(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def _scalar(value: np.ndarray) -> float | None:
    return None if np.isnan(value) else float(value)


def validation_row(
    *,
    name: str,
    fingerprint: str,
    items: Sequence[LabelledItem],
    predicted: Sequence[str | None],
    spec: ModelSpec,
    run: dict,
    n_boot: int,
    seed: int,
) -> dict:
    """The `validations` row: figures with bootstrap CIs over clusters, and the items."""
    kept = [(i, p) for i, p in zip(items, predicted, strict=True) if p != VideoStatus.FAILED]
    index = {label: n for n, label in enumerate(spec.labels)}
    truth = np.array([index[i.label] for i, _ in kept], dtype=int)
    said = np.array([mc.MISSED if p is None else index[p] for _, p in kept], dtype=int)
    clusters = np.array([i.cluster for i, _ in kept], dtype=object)
    counts = mc.cluster_counts(truth, said, clusters, len(spec.labels))
    maps = valence_masks(spec)
    point = mc.figures(counts.sum(axis=0), maps)
    rng, salt = np.random.default_rng(seed), secrets.token_bytes(16)
    boot = mc.figures(mc.replicate(counts, mc.draws(len(counts), n_boot, rng)), maps)
    row: dict = {
        "validation_id": f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
        "name": name,
        "set_fingerprint": fingerprint,
        **run,
        "validated_at": dt.datetime.now(dt.UTC),
        "n": len(kept),
        "n_failed": len(items) - len(kept),
        "clusters": len(counts),
        "clustered_by": "subject" if any(i.subject for i, _ in kept) else "image",
        "n_boot": n_boot,
        "seed": seed,
        "labels": list(spec.labels),
        "confusion": counts.sum(axis=0).astype(int).tolist(),
        "items": [
            {"cluster": _pseudonym(salt, i.cluster), "truth": i.label, "predicted": p}
            for i, p in kept
        ],
    }
    for figure in VALIDATION_FIGURES:
        low, high = mc.percentile_interval(boot[figure])
        row |= {figure: _scalar(point[figure]), f"{figure}_low": _scalar(low)}
        row[f"{figure}_high"] = _scalar(high)
    for figure in ("recall", "precision"):
        low, high = mc.percentile_interval(boot[figure])
        row |= {figure: _listed(point[figure]), f"{figure}_low": _listed(low)}
        row[f"{figure}_high"] = _listed(high)
    return row
