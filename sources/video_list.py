"""Video lists: read a list file and validate its rows (no Beam: `transforms.ingest` is the
stage).

A list is CSV (header with `url` or `video_id`, `cohort`, any other columns kept as
attributes), JSONL (one object per line, same fields) or plain text (one URL per line;
the cohort comes from `default_cohort`). Every row becomes either a `VideoRequest` or an
`ErrorRecord`: a bad row never stops the job.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

from apache_beam.io.filesystems import FileSystems

from affectflow.schemas.records import ErrorRecord, Stage, VideoRequest
from affectflow.schemas.settings import IngestSettings

YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_URL = re.compile(
    r"^(?:https?://)?(?:www\.|m\.|music\.)?(?:youtube\.com/(?:watch\?(?:.*&)?v=|shorts/|embed/|live/|v/)"
    r"|youtu\.be/)([A-Za-z0-9_-]{11})(?:[?&#/].*)?$"
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
REMOTE_SCHEMES = ("http", "https")
RESERVED_COLUMNS = ("url", "video_id", "cohort")


class RowError(ValueError):
    """A row of a video list that cannot be analysed; the message says why.

    `video_key` is the key of the video the row names, when its URL is valid (a row
    without a cohort, a duplicate): `forget` then finds the row by that key.
    """

    def __init__(self, message: str, video_key: str | None = None) -> None:
        super().__init__(message)
        self.video_key = video_key


def list_format(path: str) -> str:
    """The format of a video list from its file name: csv, jsonl or txt."""
    suffix = os.path.splitext(path.lower())[1]
    formats = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
    if suffix not in formats:
        raise ValueError(
            f"cannot tell the format of video list {path!r}: name it .csv, .jsonl or .txt"
        )
    return formats[suffix]


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def youtube_id(url: str) -> str | None:
    """The video id of a YouTube watch/shorts/embed/youtu.be URL, else None."""
    match = _YOUTUBE_URL.match(url.strip())
    return match.group(1) if match else None


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment: two spellings, one key."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def video_key_for(url: str, is_local: bool = False) -> str:
    """A stable, path-safe key for a video: `youtube-<id>`, `url-<hash>` or `local-<hash>`."""
    if is_local:
        return f"local-{_short_hash(os.path.realpath(url))}"
    video_id = youtube_id(url)
    if video_id:
        return f"youtube-{video_id}"
    return f"url-{_short_hash(normalise_url(url))}"


def _resolve_local(target: str, base_dir: str) -> str:
    """An absolute path for a local path or file:// URL, relative to the list's folder."""
    if target.lower().startswith("file:"):
        target = unquote(urlsplit(target).path)
    path = os.path.expanduser(target)
    if not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return os.path.normpath(path)


def _target_of(row: dict[str, str]) -> str:
    url = (row.get("url") or "").strip()
    video_id = (row.get("video_id") or "").strip()
    if url and video_id:
        raise RowError("row has both url and video_id: give one")
    if video_id:
        if not YOUTUBE_ID.match(video_id):
            raise RowError(f"video_id {video_id[:80]!r} is not an 11-character YouTube id")
        return f"https://www.youtube.com/watch?v={video_id}"
    if not url:
        raise RowError("row has no url or video_id")
    return url


def _scheme_of(target: str) -> str:
    """The lower-case URL scheme of a target; "" for a path (`C:` is a drive, not a scheme)."""
    match = _SCHEME.match(target)
    return match.group(1).lower() if match and len(match.group(1)) > 1 else ""


def make_request(
    row: dict[str, str],
    row_number: int,
    *,
    default_cohort: str | None,
    allow_local: bool,
    base_dir: str,
) -> VideoRequest:
    """Validate one parsed row; raise RowError with a message a person understands."""
    target = _target_of(row)
    cohort = (row.get("cohort") or "").strip() or default_cohort
    scheme = _scheme_of(target)
    is_local = scheme in ("", "file")
    if scheme and not is_local and scheme not in REMOTE_SCHEMES:
        raise RowError(f"unsupported URL scheme {scheme!r}: use http(s) or a YouTube video_id")
    if scheme in REMOTE_SCHEMES and not urlsplit(target).netloc:
        raise RowError(f"URL {target[:200]!r} has no host")
    if is_local:
        if not allow_local:
            raise RowError(f"{target[:200]!r} is a local file: local files need --allow-local")
        target = _resolve_local(target, base_dir)
        if not os.path.isfile(target):
            raise RowError(f"local file {target!r} does not exist")
    video_key = video_key_for(target, is_local)
    if not cohort:
        raise RowError("row has no cohort (add a cohort column or pass --cohort)", video_key)
    return VideoRequest(
        video_key=video_key,
        url=target,
        cohort=cohort,
        row_number=row_number,
        attributes=row_attributes(row),
        is_local=is_local,
    )


def row_attributes(row: dict) -> dict[str, str]:
    """The free columns of a list row (a note, a participant id), kept as text."""
    return {
        str(k): v if isinstance(v, str) else json.dumps(v)[:2000]
        for k, v in row.items()
        if k not in RESERVED_COLUMNS and k is not None and v is not None
    }


def _csv_records(text: str) -> Iterator[list[str] | str]:
    """Each CSV record as its fields, or a message when the record cannot be parsed."""
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # a field over the limit, a NUL byte: this record only
            yield f"cannot parse the CSV record ({error})"


def _csv_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    records = _csv_records(text)
    first = next(records, [])
    header = [h.strip() for h in first] if isinstance(first, list) else []
    if "url" not in header and "video_id" not in header:
        yield 0, f"CSV header {header[:20]!r} has no 'url' or 'video_id' column"
        return
    number = 0
    for record in records:
        if record == []:
            continue  # a blank line, as csv.DictReader skips it
        number += 1
        if isinstance(record, str):
            yield number, record
        elif len(record) > len(header):
            yield number, f"row has {len(record)} fields, the header has {len(header)}"
        elif len(record) < len(header):
            yield number, f"row has fewer fields than the header ({len(header)})"
        else:
            yield number, {k: v.strip() for k, v in zip(header, record, strict=True)}


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    for number, line in enumerate(_split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, f"line is not valid JSON ({error.msg})"
            continue
        except (ValueError, RecursionError) as error:  # a 5,000-digit number, deep nesting
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            yield number, f"line cannot be read as JSON ({reason[:200]})"
            continue
        if not isinstance(row, dict):
            yield number, "line is not a JSON object"
            continue
        yield (
            number,
            {
                str(k): str(v) if k in RESERVED_COLUMNS and v is not None else v
                for k, v in row.items()
            },
        )


def _split_lines(text: str) -> list[str]:
    """Lines split on \n only (not on U+2028 and the other separators `splitlines` knows)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _txt_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    for number, line in enumerate(_split_lines(text), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, {"url": stripped}


READERS = {"csv": _csv_rows, "jsonl": _jsonl_rows, "txt": _txt_rows}


def parse_video_list(
    text: str,
    fmt: str,
    *,
    default_cohort: str | None = None,
    allow_local: bool = False,
    base_dir: str = ".",
) -> Iterator[VideoRequest | ErrorRecord]:
    """Every row of a list's text as a VideoRequest or an ErrorRecord, in file order.

    No row raises: whatever a row holds (a huge field, deep JSON, an odd URL), it ends
    as an ErrorRecord whose message says why, and the rows after it are read.
    """
    seen: dict[str, int] = {}
    for number, row in READERS[fmt](text):
        raw = json.dumps(row, ensure_ascii=False) if isinstance(row, dict) else f"row {number}"
        try:
            if isinstance(row, str):
                raise RowError(row)
            request = make_request(
                row,
                number,
                default_cohort=default_cohort,
                allow_local=allow_local,
                base_dir=base_dir,
            )
            if request.video_key in seen:
                message = f"duplicate of row {seen[request.video_key]} ({request.video_key})"
                raise RowError(message, request.video_key)
        except (ValueError, TypeError, RecursionError) as error:  # RowError, odd URLs
            key = error.video_key if isinstance(error, RowError) else None
            yield _row_error(row, number, raw, _reason(error), default_cohort, key)
            continue
        seen[request.video_key] = number
        yield request


def _reason(error: Exception) -> str:
    if isinstance(error, RowError):
        return str(error)
    return f"cannot read the row ({type(error).__name__}: {str(error)[:200]})"


def read_video_list(
    path: str, *, default_cohort: str | None = None, allow_local: bool = False
) -> Iterator[VideoRequest | ErrorRecord]:
    """Every row of a list file (any FileSystems path) as a VideoRequest or ErrorRecord.

    Local paths in the list are relative to the list's own folder.
    """
    base_dir = os.path.dirname(os.path.abspath(path)) if "://" not in path else "."
    yield from parse_video_list(
        _text(path),
        list_format(path),
        default_cohort=default_cohort,
        allow_local=allow_local,
        base_dir=base_dir,
    )


def _text(path: str) -> str:
    with FileSystems.open(path) as handle:
        return handle.read().decode("utf-8-sig", errors="replace")


def _has_text(row: dict, column: str) -> bool:
    value = row.get(column)
    return isinstance(value, str) and bool(value.strip())


def check_video_list(path: str, settings: IngestSettings) -> None:
    """Fail fast on a list whose rows could not be analysed as given; ValueError says why.

    Caught here, before any download: no readable row, no `url`/`video_id` column, no
    cohort (no column and no --cohort), every row a local file without --allow-local.
    A single bad row is not an error here: it becomes an `errors` row of the job.
    """
    fmt = list_format(path)
    parsed = list(READERS[fmt](_text(path)))
    rows = [row for _, row in parsed if isinstance(row, dict)]
    if parsed and parsed[0][0] == 0:  # the CSV header itself
        raise ValueError(f"video list {path!r}: {parsed[0][1]}: add a url (or video_id) column")
    if not rows:
        problem = f": {parsed[0][1]}" if parsed else ""
        raise ValueError(f"video list {path!r} has no row to analyse{problem}")
    if not any(_has_text(row, "url") or _has_text(row, "video_id") for row in rows):
        raise ValueError(f"no row of video list {path!r} has a url or video_id: add them")
    if settings.default_cohort is None and not any(_has_text(row, "cohort") for row in rows):
        where = "one URL per line: pass --cohort NAME" if fmt == "txt" else "add a cohort column"
        raise ValueError(f"video list {path!r} names no cohort: {where} (or pass --cohort NAME)")
    targets = [(row.get("url") or "").strip() for row in rows if _has_text(row, "url")]
    local = [t for t in targets if _scheme_of(t) in ("", "file")]
    if not settings.allow_local and local and len(local) == len(rows):
        raise ValueError(
            f"every row of {path!r} is a local file ({local[0][:200]!r}): "
            "pass --allow-local to analyse local files"
        )


def _row_error(
    row: dict | str,
    number: int,
    raw: str,
    message: str,
    default_cohort: str | None,
    video_key: str | None = None,
) -> ErrorRecord:
    fields = row if isinstance(row, dict) else {}
    cohort = fields.get("cohort") if isinstance(fields.get("cohort"), str) else None
    url = fields.get("url") or fields.get("video_id")
    return ErrorRecord(
        stage=Stage.INGEST,
        error_class="InvalidRow",
        message=f"row {number}: {message}",
        retryable=False,
        input=raw[:2000],
        video_key=video_key,
        url=str(url)[:2000] if url else None,
        cohort=(cohort or default_cohort or None),
        row_number=number,
        attributes=_safe_attributes(fields),
    )


def _safe_attributes(fields: dict) -> dict[str, str]:
    """A broken row's free columns, or none when even they cannot be read as text."""
    try:
        return row_attributes(fields)
    except (TypeError, ValueError, RecursionError):
        return {}
