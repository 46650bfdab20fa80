"""The flags of `affectflow analyze`, in the groups `analyze --help` shows them.

Each flag's default is its stage settings' default (`schemas.settings`), and each checks
its own value when parsed (`option_types.py`); `options.add_analyze_arguments` adds them
to a parser.
"""

from __future__ import annotations

import os
from typing import Any

from affectflow.models.model_names import MODEL_NAMES
from affectflow.pipelines.option_types import folder, names, number, pixels, umask, workers
from affectflow.schemas.settings import (
    DETECTORS,
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    UnitSettings,
)

DETECT = DetectSettings()
DOWNLOAD = DownloadSettings()
CLASSIFY = ClassifySettings()
UNITS = UnitSettings()
DEFAULT_UMASK = 0o077

POSITIVE, NON_NEGATIVE = number(float, 0, above=True), number(float, 0)
COUNT, AT_LEAST_ONE = number(int, 0), number(int, 1)

# (group title, [(flag, argparse keywords), ...]): `analyze --help` shows them in this order.
Spec = list[tuple[str, dict[str, Any]]]
BASICS: Spec = [
    ("warehouse", dict(default="out", type=folder, metavar="DIR",
                       help="warehouse folder or URI, new or existing (default: %(default)s)")),
    ("cohort", dict(metavar="NAME", help="cohort of the rows that name none (.txt lists)")),
    ("allow-local", dict(action="store_true", help="accept local paths and file:// URLs")),
    ("model", dict(default=CLASSIFY.model, choices=MODEL_NAMES,
                   help="emotion model (default: %(default)s)")),
    ("weights", dict(metavar="FILE", help="weights file, for models that need one")),
    ("fps", dict(type=POSITIVE, default=DETECT.fps, metavar="N",
                 help="frames sampled per second (default: %(default)s)")),
    ("workers", dict(type=workers, default="auto", metavar="N|auto",
                     help="local worker processes; auto: one per available core, when the "
                     "list has 8 videos to do per worker to repay their start-up (default: auto)")),
    ("force", dict(action="store_true", help="re-analyse videos already done")),
]  # fmt: skip
DETECTION: Spec = [
    ("trim-s", dict(type=NON_NEGATIVE, default=DETECT.trim_s, metavar="S",
                    help="seconds dropped at the start and the end (default: %(default)s)")),
    ("detector", dict(default=DETECT.detector, choices=DETECTORS,
                      help="face detector; every box is then checked by MTCNN's ONet "
                      "(default: %(default)s)")),
    ("scale-factor", dict(type=number(float, 1, above=True), default=DETECT.scale_factor,
                          metavar="X", help="Haar scaleFactor (default: %(default)s)")),
    ("min-neighbors", dict(type=COUNT, default=DETECT.min_neighbors, metavar="N",
                           help="Haar minNeighbors (default: %(default)s)")),
    ("min-face", dict(type=AT_LEAST_ONE, default=DETECT.min_face, metavar="PX",
                      help="smallest face side in px (default: %(default)s)")),
    ("detect-width", dict(type=COUNT, default=DETECT.detect_width, metavar="PX",
                          help="shrink frames to this width to search faces; 0: full size "
                          "(default: %(default)s)")),
    ("detect-every", dict(type=AT_LEAST_ONE, default=DETECT.detect_every, metavar="K",
                          help="search whole frames every k-th sampled frame (and when a track "
                          "is lost), follow faces in between (default: %(default)s)")),
    ("min-track-frames", dict(type=AT_LEAST_ONE, default=DETECT.min_track_frames, metavar="N",
                              help="sampled frames a face track needs to count "
                              "(default: %(default)s)")),
    ("min-face-score", dict(type=number(float, 0), default=DETECT.min_face_score, metavar="P",
                            help="ONet P(face) a box needs to count as a face "
                            "(default: %(default)s)")),
    ("min-face-quality", dict(type=number(float, 0), default=DETECT.min_face_quality,
                              metavar="Q", help="drop faces whose quality (0-1: the weakest "
                              "of P(face), size, sharpness) is below Q (default: %(default)s)")),
    ("align", dict(default="on" if DETECT.align else "off", choices=("on", "off"),
                   help="rotate and scale crops on the face's landmarks, eyes level "
                   "(default: %(default)s)")),
    ("landmark-passes", dict(type=COUNT, default=DETECT.landmark_passes, metavar="N",
                             help="further ONet looks, each at the box the last one regressed, "
                             "before a face's landmarks are read (default: %(default)s)")),
    ("detect-batch", dict(type=AT_LEAST_ONE, default=DETECT.detect_batch, metavar="N",
                          help="frames per batched MTCNN whole-frame search (GPU runners: "
                          "16-64; default: %(default)s)")),
    ("max-pixels", dict(type=pixels, default=DETECT.max_pixels, metavar="WxH",
                        help="largest frame decoded, as WIDTHxHEIGHT or pixels; a video "
                        "with larger frames fails (default: 3840x2160)")),
    ("process-timeout", dict(type=POSITIVE, default=DETECT.process_timeout_s, metavar="S",
                             help="longest time one video's decoding, detection and "
                             "inference may take, in seconds (default: %(default)s)")),
    ("clahe", dict(choices=("on", "off"),
                   help="contrast-enhance face crops (default: the model's setting)")),
]  # fmt: skip
LABELS: Spec = [
    ("flip-average", dict(choices=("on", "off"), default="on" if CLASSIFY.flip_average else "off",
                          help="average each face's class probabilities with its mirror "
                          "image's (default: %(default)s)")),
    ("smooth-s", dict(type=NON_NEGATIVE, default=CLASSIFY.smooth_s, metavar="S",
                      help="smoothed labels: mean probabilities of a track's face-frames "
                      "within +-S/2 seconds; 0: off (default: %(default)s)")),
]  # fmt: skip
DOWNLOAD_OPTIONS: Spec = [
    ("max-duration", dict(type=POSITIVE, default=DOWNLOAD.max_duration_s, metavar="S",
                          help="longest video in seconds (default: %(default)s)")),
    ("max-filesize", dict(type=AT_LEAST_ONE, default=DOWNLOAD.max_filesize_bytes,
                          metavar="BYTES", help="largest download in bytes (default: "
                          f"{DOWNLOAD.max_filesize_bytes / 2**30:g} GiB)")),
    ("max-height", dict(type=AT_LEAST_ONE, default=DOWNLOAD.max_height, metavar="PX",
                        help="highest video format downloaded (default: %(default)s)")),
    ("sites", dict(type=names, metavar="NAMES",
                   help="comma-separated yt-dlp extractors to accept (default: all)")),
    ("socket-timeout", dict(type=POSITIVE, default=DOWNLOAD.socket_timeout_s, metavar="S",
                            help="network timeout in seconds (default: %(default)s)")),
    ("retries", dict(type=COUNT, default=DOWNLOAD.retries, metavar="N",
                     help="retries of retryable download errors (default: %(default)s)")),
    ("backoff-s", dict(type=NON_NEGATIVE, default=DOWNLOAD.backoff_s, metavar="S",
                       help="first retry delay, doubling (default: %(default)s)")),
    ("download-timeout", dict(type=POSITIVE, default=DOWNLOAD.download_timeout_s, metavar="S",
                              help="longest time one attempt to fetch a video may take, in "
                              "seconds (default: %(default)s)")),
    ("download-deadline", dict(type=POSITIVE, default=DOWNLOAD.download_deadline_s,
                               metavar="S", help="longest time all attempts to fetch one "
                               "video may take together, in seconds (default: %(default)s)")),
    ("min-rate", dict(type=NON_NEGATIVE, default=DOWNLOAD.min_rate_bytes, metavar="BYTES",
                      help="slowest download accepted, bytes/s received, once 30 s passed "
                      "since its first byte; 0: any (default: %(default)s)")),
    ("downloads", dict(type=AT_LEAST_ONE, default=DOWNLOAD.concurrent_downloads, metavar="N",
                       help="downloads at the same time per worker (default: %(default)s)")),
    ("still-images", dict(action="store_true",
                          help="accept still images (jpg, png) as one-frame videos at t=0 "
                          "(affectflow validate sets it)")),
    ("allow-private-addresses", dict(action="store_true",
                                     help="follow redirects and page links to loopback, "
                                     "private and link-local hosts")),
    ("cache-dir", dict(type=folder, metavar="DIR",
                       help="model and video cache (default: ~/.cache/affectflow)")),
    ("keep-videos", dict(action="store_true", help="keep downloaded videos in the cache")),
    ("cache-max-gb", dict(type=POSITIVE, metavar="GB",
                          help="size cap of the video cache (default: none)")),
]  # fmt: skip
PRIVACY: Spec = [
    ("keep-title", dict(action="store_true", help="store video titles (off: privacy)")),
    ("channel-salt", dict(default=os.environ.get("AFFECTFLOW_CHANNEL_SALT"), metavar="KEY",
                          help="key for hashing channel ids (default: env "
                          "AFFECTFLOW_CHANNEL_SALT; none: channel ids not stored)")),
    ("umask", dict(type=umask, default=DEFAULT_UMASK, metavar="MASK",
                   help="octal mask of what the job creates (default: 077, owner only; "
                   "027: the group may read)")),
    ("debug-crops", dict(type=folder, metavar="DIR",
                         help="write every face crop to DIR (debugging only: personal data)")),
]  # fmt: skip
RUNNER: Spec = [
    ("device", dict(default=CLASSIFY.device, choices=("cpu", "cuda"),
                    help="torch device (default: %(default)s)")),
    ("batch-size", dict(type=AT_LEAST_ONE, default=CLASSIFY.batch_size, metavar="N",
                        help="faces per inference batch (default: %(default)s)")),
    ("batch-across-videos", dict(action="store_true",
                                 help="fill inference batches across videos (off: a batch "
                                 "holds one video's faces, so each video finishes at once)")),
    ("model-copies", dict(type=AT_LEAST_ONE, metavar="N",
                          help="model copies per worker machine (default: Beam's)")),
    ("unit-videos", dict(type=AT_LEAST_ONE, default=UNITS.max_videos, metavar="N",
                         help="commit finished videos in units of N (default: %(default)s)...")),
    ("unit-seconds", dict(type=NON_NEGATIVE, default=UNITS.max_seconds, metavar="S",
                          help="...or once the oldest has waited S s (default: %(default)s)")),
]  # fmt: skip
GROUPS = (
    ("basics", BASICS),
    ("face detection", DETECTION),
    ("labels", LABELS),
    ("download and cache", DOWNLOAD_OPTIONS),
    ("privacy", PRIVACY),
    ("runner (Beam's own options, --runner, --project, ..., pass through)", RUNNER),
)
