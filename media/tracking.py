"""Per-video face tracks: greedy IoU matching of boxes from one sampled frame to the next.

Good enough to count people rather than face-frames in talking-head videos; it does
not re-identify a face that leaves for longer than `max_missed` sampled frames.
"""

from __future__ import annotations

import dataclasses
from typing import Generic, Protocol, TypeVar

import numpy as np

from affectflow.models.mtcnn import FaceCheck
from affectflow.schemas.records import FaceBox

# A detection overlapping a followed face by at least this IoU is that face.
SAME_FACE_IOU = 0.3


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


@dataclasses.dataclass
class _Track:
    track_id: int
    box: FaceBox
    missed: int = 0


class IoUTracker:
    """Assigns track ids (0, 1, ... per video) to the face boxes of consecutive frames.

    Each `update` matches the new boxes to the live tracks' last boxes, greedily by
    highest IoU (at least `iou_threshold`); unmatched boxes start new tracks. A track
    unmatched for `max_missed` consecutive frames expires, so a face that comes back
    after that gets a new id. Use one tracker per video.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def tracks_started(self) -> int:
        """How many distinct tracks this tracker has started."""
        return self._next_id

    @property
    def live_tracks(self) -> int:
        """Tracks not yet expired."""
        return len(self._tracks)

    @property
    def live_ids(self) -> set[int]:
        """Ids of the tracks not yet expired."""
        return {track.track_id for track in self._tracks}

    @property
    def live_boxes(self) -> list[FaceBox]:
        """The last box of each track not yet expired."""
        return [track.box for track in self._tracks]

    def update(self, boxes: list[FaceBox]) -> list[int]:
        """Track ids for `boxes` (same order), for the next sampled frame."""
        pairs = sorted(
            (
                (overlap, t, b)
                for t, track in enumerate(self._tracks)
                for b, box in enumerate(boxes)
                if (overlap := iou(track.box, box)) >= self.iou_threshold and overlap > 0
            ),
            key=lambda pair: (-pair[0], pair[1], pair[2]),
        )
        ids: list[int | None] = [None] * len(boxes)
        matched: set[int] = set()
        for _, t, b in pairs:
            if t in matched or ids[b] is not None:
                continue
            matched.add(t)
            track = self._tracks[t]
            track.box, track.missed = boxes[b], 0
            ids[b] = track.track_id
        survivors = [track for t, track in enumerate(self._tracks) if t in matched]
        for t, track in enumerate(self._tracks):
            if t not in matched:
                track.missed += 1
                if track.missed < self.max_missed:
                    survivors.append(track)
        for b, box in enumerate(boxes):
            if ids[b] is None:
                ids[b] = self._next_id
                survivors.append(_Track(self._next_id, box))
                self._next_id += 1
        self._tracks = survivors
        return [track_id for track_id in ids if track_id is not None]


T = TypeVar("T")


class TrackConfirmation(Generic[T]):
    """Holds back a track's faces until it has been seen on `min_hits` sampled frames.

    Haar false positives (a title card, a pattern) rarely persist from frame to frame;
    real faces do. Pending items of a track that expires (or whose video ends) before it
    is confirmed are dropped and counted. At most `min_hits - 1` items wait per track.
    """

    def __init__(self, min_hits: int = 3) -> None:
        self.min_hits = max(1, min_hits)
        self.confirmed: set[int] = set()
        self.dropped = 0
        self._pending: dict[int, list[T]] = {}

    def add(self, track_id: int, item: T) -> list[T]:
        """The items to emit now: none while the track is tentative, its backlog when confirmed."""
        if track_id in self.confirmed:
            return [item]
        pending = self._pending.setdefault(track_id, [])
        pending.append(item)
        if len(pending) < self.min_hits:
            return []
        self.confirmed.add(track_id)
        return self._pending.pop(track_id)

    def expire(self, live_ids: set[int]) -> None:
        """Drop the backlog of tentative tracks that are no longer live."""
        for track_id in [t for t in self._pending if t not in live_ids]:
            self.dropped += len(self._pending.pop(track_id))

    def finish(self, frames: int | None = None) -> list[T]:
        """End of the video: the items to emit now; every other backlog is dropped.

        A video of fewer than `min_hits` sampled `frames` (a still image is one frame)
        cannot show a face persisting that long: there a track seen on every one of its
        frames is confirmed. Without `frames` nothing is.
        """
        ready: list[T] = []
        if frames is not None and frames < self.min_hits:
            for track_id in [t for t, items in self._pending.items() if len(items) >= frames]:
                self.confirmed.add(track_id)
                ready += self._pending.pop(track_id)
        self.expire(set())
        return ready


class FaceDetector(Protocol):
    """What `FaceFinder` needs of a detector (`HaarFaceDetector`, `MtcnnDetector`)."""

    def detect_scaled(self, gray: np.ndarray, width: int | None) -> list[FaceBox]: ...

    def detect_near(self, gray: np.ndarray, box: FaceBox) -> FaceBox | None: ...


class FaceChecker(Protocol):
    """What `FaceFinder` needs of the face check (`MtcnnDetector.check`)."""

    def check(self, gray: np.ndarray, boxes: list[FaceBox]) -> list[FaceCheck]: ...


class FaceFinder:
    """Faces per sampled frame: a detector's boxes, confirmed by the ONet check.

    `detect_every` 1: `detector.detect_scaled` on every frame. Above 1, each live track
    of `tracker` is followed on every frame by a small full-size search near its last box
    (`detect_near`), and the shrunk whole frame is searched on every k-th frame and
    whenever a followed face is not found (re-detect on track loss); where both found a
    face, the whole-frame search's box is kept. Every box is then
    checked (`checker`): boxes under `min_score` are counted in `rejected` and dropped.
    Without a checker every box passes with score 1 and no landmarks. The caller passes
    the returned boxes to `tracker.update`. One finder per video.
    """

    def __init__(
        self,
        detector: FaceDetector,
        tracker: IoUTracker,
        detect_width: int | None = None,
        detect_every: int = 1,
        checker: FaceChecker | None = None,
        min_score: float = 0.0,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self.detector = detector
        self.tracker = tracker
        self.detect_width = detect_width or None
        self.detect_every = detect_every
        self.checker = checker
        self.min_score = min_score
        self.frames = 0
        self.full_searches = 0
        self.rejected = 0

    def find(self, gray: np.ndarray, whole: list[FaceBox] | None = None) -> list[FaceCheck]:
        """The confirmed faces of the next sampled frame, sorted left to right.

        `whole`: this frame's whole-frame search if already done (in a batch of frames);
        used only where a whole-frame search is due, so the result is the same.
        """
        boxes = sorted(self._propose(gray, whole), key=lambda box: (box.x, box.y))
        if self.checker is None:
            return [FaceCheck(box, 1.0, ()) for box in boxes]
        checks = self.checker.check(gray, boxes)
        faces = [check for check in checks if check.score >= self.min_score]
        self.rejected += len(checks) - len(faces)
        return faces

    def _propose(self, gray: np.ndarray, whole: list[FaceBox] | None) -> list[FaceBox]:
        """The frame's boxes: a due whole-frame search's first, then the followed faces it
        missed. A fresh detection replaces a followed face's box, so a box followed from
        box to box (`detect_near`) never drifts for longer than `detect_every` frames."""
        followed: list[FaceBox] = []
        lost = False
        if self.detect_every > 1:
            for last in self.tracker.live_boxes:
                found = self.detector.detect_near(gray, last)
                lost = lost or found is None
                if found is not None:
                    followed = _merge(followed, [found])
        boxes = followed
        if lost or self.frames % self.detect_every == 0:
            self.full_searches += 1
            if whole is None:
                whole = self.detector.detect_scaled(gray, self.detect_width)
            boxes = _merge(_merge([], whole), followed)
        self.frames += 1
        return boxes


def _merge(kept: list[FaceBox], new: list[FaceBox]) -> list[FaceBox]:
    """`kept` plus the boxes of `new` that are not a face already kept."""
    merged = list(kept)
    for box in new:
        if all(iou(box, other) < SAME_FACE_IOU for other in merged):
            merged.append(box)
    return merged
