"""The download stage's settings: fetching, validating and caching videos, within the
media limits it shares with the face stage (`schemas.video_settings`)."""

from __future__ import annotations

import dataclasses

from affectflow.schemas.knobs import (
    AT_LEAST_ONE,
    COUNT,
    DOWNLOAD,
    GIB,
    NON_NEGATIVE,
    POSITIVE,
    PRIVACY,
    RUN_ONLY,
    folder,
    gib_bytes,
    name_tuple,
    names,
    or_empty,
    setting,
)
from affectflow.schemas.video_settings import DEFAULT_LIMITS, MediaLimits


@dataclasses.dataclass(frozen=True)
class DownloadSettings:
    """Fetching, validating and caching videos (`transforms.download`, `video_cache`).

    The limits (duration, size, pixels per frame, sites, time) only decide which videos
    fail; a video that failed for good is retried with `refresh --retry-failed`, not by a
    new fingerprint. `download_timeout_s` bounds one attempt, `download_deadline_s` all
    attempts of one video together (retries and back-off included). `limits`: the
    longest video and the largest frame, which bound the face stage's decoding too.
    """

    limits: MediaLimits = dataclasses.field(default=DEFAULT_LIMITS, metadata=RUN_ONLY)

    cache_dir: str = setting(
        "", "cache-dir", DOWNLOAD, "model and video cache (default: ~/.cache/affectflow)",
        type=folder, metavar="DIR", operational=True, option_default=None, convert=or_empty,
        shown="`~/.cache/affectflow`",
        doc="model weights and downloaded videos; on a remote runner the workers' folder "
        "for videos (the launcher keeps its own cache, deploy/README.md)",
    )  # fmt: skip
    max_height: int = setting(
        480, "max-height", DOWNLOAD, "highest video format downloaded (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="PX",
    )  # fmt: skip
    max_filesize_bytes: int | None = setting(
        2 * GIB, "max-filesize", DOWNLOAD, "largest download in bytes (default: 2 GiB)",
        type=AT_LEAST_ONE, metavar="BYTES", operational=True, shown="2 GiB",
    )  # fmt: skip
    allowed_extractors: tuple[str, ...] | None = setting(
        None, "sites", DOWNLOAD, "comma-separated yt-dlp extractors to accept (default: all)",
        type=names, metavar="NAMES", convert=name_tuple, operational=True, shown="all",
        doc="comma-separated yt-dlp extractor names to accept, e.g. `youtube`",
    )  # fmt: skip
    socket_timeout_s: float = setting(
        20.0, "socket-timeout", DOWNLOAD, "network timeout in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
    )  # fmt: skip
    retries: int = setting(
        3, "retries", DOWNLOAD, "retries of retryable download errors (default: %(default)s)",
        type=COUNT, metavar="N", operational=True,
        doc="retries of retryable download errors (HTTP 429/5xx, timeouts, refused), with "
        "exponential back-off",
    )  # fmt: skip
    backoff_s: float = setting(
        2.0, "backoff-s", DOWNLOAD, "first retry delay, doubling (default: %(default)s)",
        type=NON_NEGATIVE, metavar="S", operational=True,
    )  # fmt: skip
    keep_title: bool = setting(
        False, "keep-title", PRIVACY, "store video titles (off: privacy)",
        action="store_true", operational=True,
    )  # fmt: skip
    channel_salt: str | None = setting(
        None, "channel-salt", PRIVACY, "key for hashing channel ids (default: env "
        "AFFECTFLOW_CHANNEL_SALT; none: channel ids not stored)",
        metavar="KEY", env="AFFECTFLOW_CHANNEL_SALT", operational=True,
        shown="env `AFFECTFLOW_CHANNEL_SALT`",
        doc="key for hashing channel ids; without it none are stored",
    )  # fmt: skip
    keep_videos: bool = setting(
        False, "keep-videos", DOWNLOAD, "keep downloaded videos in the cache",
        action="store_true", operational=True,
        doc="keep downloaded videos in the cache (default: deleted once analysed)",
    )  # fmt: skip
    cache_max_bytes: int | None = setting(
        None, "cache-max-gb", DOWNLOAD, "size cap of the video cache (default: none)",
        type=POSITIVE, metavar="GB", convert=gib_bytes, operational=True,
        doc="size cap of the video cache in GiB (oldest evicted first)",
    )  # fmt: skip
    download_timeout_s: float = setting(
        300.0, "download-timeout", DOWNLOAD, "longest time one attempt to fetch a video may "
        "take, in seconds (default: %(default)s)", type=POSITIVE, metavar="S", operational=True,
    )  # fmt: skip
    min_rate_bytes: float = setting(
        1024.0, "min-rate", DOWNLOAD, "slowest download accepted, bytes/s received, once 30 s "
        "passed since its first byte; 0: any (default: %(default)s)",
        type=NON_NEGATIVE, metavar="BYTES", operational=True,
        doc="slowest download accepted, bytes/s counted as they arrive on the socket over the "
        "time spent waiting for them, once 30 s of waiting passed (0: any): a server that "
        "drips one byte a second is cut then, while a download slowed by a busy machine is not",
    )  # fmt: skip
    concurrent_downloads: int = setting(
        4, "downloads", DOWNLOAD, "downloads at the same time per worker (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="N", operational=True,
        doc="downloads run at the same time per worker (one slow host does not idle the job)",
    )  # fmt: skip
    allow_private_addresses: bool = setting(
        False, "allow-private-addresses", DOWNLOAD, "follow redirects and page links to "
        "loopback, private and link-local hosts", action="store_true", operational=True,
        doc="follow redirects and page links to non-global hosts: loopback, link-local (cloud "
        "metadata), private, carrier-grade NAT (100.64/10), multicast, reserved; refused by "
        "default unless the list's URL is a host of that same kind. The address connected to "
        "is judged, IPv4 inside IPv6 unwrapped (`::ffff:a.b.c.d`, `::a.b.c.d`, 6to4, NAT64)",
    )  # fmt: skip
    download_deadline_s: float = setting(
        600.0, "download-deadline", DOWNLOAD, "longest time all attempts to fetch one video "
        "may take together, in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
        doc="longest time all attempts to fetch one video may take together (s), retries "
        "and back-off included",
    )  # fmt: skip
    # A file of one frame (a photo) is a one-frame video at t=0 rather than a failure:
    # what a video yields does not change, only whether a photo is accepted.
    still_images: bool = setting(
        False, "still-images", DOWNLOAD, "accept still images (jpg, png) as one-frame videos "
        "at t=0 (affectflow validate sets it)", action="store_true", operational=True,
        doc="accept photos (jpg, png) as one-frame videos at t=0 (`validate` turns it on); a "
        "track seen on every frame of a video shorter than `--min-track-frames` frames counts",
    )  # fmt: skip
