"""IoU tracker: ids follow boxes frame to frame, new faces start tracks, old ones expire."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectflow.media.frames import iter_sampled_frames
from affectflow.media.tracking import FaceFinder, IoUTracker, TrackConfirmation, iou
from affectflow.models.faces import HaarFaceDetector
from affectflow.schemas.records import FaceBox

A = FaceBox(0, 0, 100, 100)
B = FaceBox(300, 0, 100, 100)


def shifted(box: FaceBox, dx: int) -> FaceBox:
    return FaceBox(box.x + dx, box.y, box.w, box.h)


def test_iou() -> None:
    assert iou(A, A) == 1.0
    assert iou(A, B) == 0.0
    assert iou(A, shifted(A, 50)) == pytest.approx(5000 / 15000)
    assert iou(A, FaceBox(0, 0, 50, 50)) == pytest.approx(0.25)
    assert iou(FaceBox(0, 0, 0, 0), FaceBox(0, 0, 0, 0)) == 0.0


def test_a_moving_face_keeps_its_id() -> None:
    tracker = IoUTracker()
    ids = [tracker.update([shifted(A, 10 * step)]) for step in range(6)]
    assert ids == [[0]] * 6
    assert tracker.tracks_started == 1


def test_ids_follow_the_boxes_not_the_list_order() -> None:
    tracker = IoUTracker()
    assert tracker.update([A, B]) == [0, 1]
    assert tracker.update([shifted(B, 5), shifted(A, 5)]) == [1, 0]
    assert tracker.update([shifted(A, 10), FaceBox(600, 0, 80, 80)]) == [0, 2]
    assert tracker.tracks_started == 3


def test_overlap_below_the_threshold_starts_a_new_track() -> None:
    tracker = IoUTracker(iou_threshold=0.5)
    tracker.update([A])
    assert iou(A, shifted(A, 50)) < 0.5
    assert tracker.update([shifted(A, 50)]) == [1]


def test_greedy_matching_takes_the_highest_iou_first() -> None:
    tracker = IoUTracker(iou_threshold=0.1)
    left, right = FaceBox(0, 0, 100, 100), FaceBox(60, 0, 100, 100)
    assert tracker.update([left, right]) == [0, 1]
    # one box, overlapping both tracks: it goes to the closer one (right), left misses
    assert tracker.update([FaceBox(55, 0, 100, 100)]) == [1]
    assert tracker.update([left]) == [0]


def test_a_track_expires_after_max_missed_frames() -> None:
    tracker = IoUTracker(max_missed=3)
    tracker.update([A])
    for _ in range(2):
        assert tracker.update([]) == []
    assert tracker.update([A]) == [0]  # missed 2 < 3 frames: same person
    for _ in range(3):
        tracker.update([])
    assert tracker.live_tracks == 0
    assert tracker.update([A]) == [1]  # missed 3 frames: a new track
    assert tracker.tracks_started == 2


def test_empty_frames() -> None:
    tracker = IoUTracker()
    assert tracker.update([]) == []
    assert tracker.tracks_started == 0


def test_confirmation_holds_back_tentative_tracks_and_drops_short_ones() -> None:
    gate: TrackConfirmation[str] = TrackConfirmation(min_hits=3)
    assert gate.add(0, "a0") == [] and gate.add(1, "b0") == []
    assert gate.add(0, "a1") == []
    gate.expire({0})  # track 1 is gone after one hit: a false positive
    assert gate.dropped == 1
    assert gate.add(0, "a2") == ["a0", "a1", "a2"]
    assert gate.add(0, "a3") == ["a3"]
    assert gate.add(2, "c0") == []
    gate.finish()
    assert gate.dropped == 2 and gate.confirmed == {0}


def test_a_video_shorter_than_the_gate_confirms_tracks_seen_on_every_frame() -> None:
    gate: TrackConfirmation[str] = TrackConfirmation(min_hits=3)
    assert gate.add(0, "a0") == [] and gate.add(1, "b0") == []
    assert gate.finish(frames=1) == ["a0", "b0"]  # a still image: one frame
    assert gate.dropped == 0 and gate.confirmed == {0, 1}
    two: TrackConfirmation[str] = TrackConfirmation(min_hits=3)
    two.add(0, "a0"), two.add(0, "a1"), two.add(1, "b1")
    assert two.finish(frames=2) == ["a0", "a1"]  # b was on one of the two frames
    assert two.dropped == 1
    three: TrackConfirmation[str] = TrackConfirmation(min_hits=3)
    three.add(0, "a0"), three.add(0, "a1")
    assert three.finish(frames=3) == [] and three.dropped == 2  # long enough to ask 3


def pexels_frames(fps: float = 5.0) -> list:
    clip = Path(__file__).resolve().parents[1] / "data" / "videos"
    clip = clip / "pyfeat_WolfgangLanger_Pexels.mp4"
    return [frame.gray for frame in iter_sampled_frames(str(clip), fps=fps)]


def test_face_finder_every_frame_is_the_plain_detector() -> None:
    detector = HaarFaceDetector()
    finder = FaceFinder(detector, IoUTracker(), detect_width=None, detect_every=1)
    for gray in pexels_frames()[:8]:
        boxes = [face.box for face in finder.find(gray)]
        finder.tracker.update(boxes)
        assert boxes == detector.detect(gray)
    assert finder.full_searches == finder.frames == 8
    with pytest.raises(ValueError, match="detect_every"):
        FaceFinder(detector, IoUTracker(), detect_every=0)


@pytest.mark.slow
def test_face_finder_follows_faces_between_whole_frame_searches() -> None:
    detector = HaarFaceDetector()
    finder = FaceFinder(detector, IoUTracker(), detect_width=320, detect_every=3)
    hits = total = 0
    for gray in pexels_frames():
        boxes = [face.box for face in finder.find(gray)]
        finder.tracker.update(boxes)
        for reference in detector.detect(gray):
            total += 1
            hits += any(iou(reference, box) >= 0.5 for box in boxes)
    assert total >= 50
    assert hits >= 0.9 * total, (hits, total)
    assert finder.full_searches < 0.6 * finder.frames, (finder.full_searches, finder.frames)
    assert finder.tracker.tracks_started <= 3


@pytest.mark.slow
def test_default_fast_search_keeps_the_small_faces_of_a_wide_shot() -> None:
    """Hamilton (640x360, faces of 55-70 px): Haar's fast path keeps >= 80% of full-size hits.

    (320 px wide every 2nd frame kept 46 of these 62 hits: small faces fell below the
    cascade's window once shrunk.)
    """
    clip = Path(__file__).resolve().parents[1] / "data" / "videos" / "hamilton_short_clip.mp4"
    detector = HaarFaceDetector()
    finder = FaceFinder(detector, IoUTracker(), 480, 4)
    hits = total = 0
    for frame in iter_sampled_frames(str(clip), fps=10.0):
        boxes = [face.box for face in finder.find(frame.gray)]
        finder.tracker.update(boxes)
        for reference in detector.detect(frame.gray):
            total += 1
            hits += any(iou(reference, box) >= 0.5 for box in boxes)
    assert total >= 60
    assert hits >= 0.8 * total, (hits, total)
    assert finder.full_searches < 0.5 * finder.frames, (finder.full_searches, finder.frames)
