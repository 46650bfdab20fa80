"""Video lists: read a list file and validate its rows (no Beam: `transforms.ingest` is the
stage).

A list is CSV (header with `url` or `video_id`, `cohort`, any other columns kept as
attributes), JSONL (one object per line, same fields) or plain text (one URL per line;
the cohort comes from `default_cohort`). Every row becomes either a `VideoRequest` or an
`ErrorRecord`: a bad row never stops the job. Each format's reader is in
`list_formats.py`, the video key in `video_keys.py`.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from affectflow.schemas.printable import has_non_printing, printable
from affectflow.schemas.records import DUPLICATE_ROW, ErrorRecord, Stage, VideoRequest
from affectflow.schemas.settings import IngestSettings
from affectflow.sources.list_formats import (
    FIELD_MAX_CHARS,
    READERS,
    RESERVED_COLUMNS,
    list_format,
)
from affectflow.sources.video_keys import YOUTUBE_ID, video_key_for

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
REMOTE_SCHEMES = ("http", "https")
INVALID_ROW = "InvalidRow"


class RowError(ValueError):
    """A row of a video list that cannot be analysed; the message says why.

    `error_class` is the `errors.error_class` it becomes (a duplicate: `DUPLICATE_ROW`,
    whose `videos` row has status `duplicate`).
    """

    def __init__(self, message: str, error_class: str = INVALID_ROW) -> None:
        super().__init__(message)
        self.error_class = error_class


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
    for name, value in row.items():
        if len(name) > FIELD_MAX_CHARS or (isinstance(value, str) and len(value) > FIELD_MAX_CHARS):
            raise RowError(
                f"field {name[:40]!r} is larger than {FIELD_MAX_CHARS:,} characters "
                "(the most a field may hold)"
            )
    target = _target_of(row)
    if has_non_printing(target):
        raise RowError(
            f"URL '{printable(target)[:200]}' holds control, bidi or other invisible "
            "characters (shown escaped): fix the list"
        )
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
    stored = _stored_path(target, base_dir) if is_local else None
    if not cohort:
        raise RowError("row has no cohort (add a cohort column or pass --cohort)")
    return VideoRequest(
        video_key=video_key,
        url=target,
        cohort=cohort,
        row_number=row_number,
        attributes=row_attributes(row),
        is_local=is_local,
        stored_url=stored,
    )


def _stored_path(path: str, base_dir: str) -> str:
    """How the tables name a local file: its path under the list's folder, else its file
    name, never an absolute path (it names the analyst's folders)."""
    relative = os.path.relpath(path, os.path.abspath(base_dir))
    return os.path.basename(path) if relative.startswith(os.pardir) else relative


def row_attributes(row: dict) -> dict[str, str]:
    """The free columns of a list row (a note, a participant id), kept as text."""
    return {
        str(k): v if isinstance(v, str) else json.dumps(v)[:2000]
        for k, v in row.items()
        if k not in RESERVED_COLUMNS and k is not None and v is not None
    }


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
    seen: dict[str, int] = {}  # video key -> its first row: list order decides, nothing else
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
                raise RowError(message, DUPLICATE_ROW)
        except (ValueError, TypeError, RecursionError) as error:  # RowError, odd URLs
            yield _row_error(row, number, raw, error, default_cohort)
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
    """A list file's text: a local path (or file: URL) directly, a URI through Beam's
    FileSystems (imported only then: checking a local list needs no Beam)."""
    if "://" in path and not path.lower().startswith("file://"):
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as handle:
            return decode_list(handle.read(), path)
    local = unquote(urlsplit(path).path) if path.lower().startswith("file:") else path
    with open(local, "rb") as handle:
        return decode_list(handle.read(), path)


def decode_list(data: bytes, path: str) -> str:
    """A list's text: UTF-8 (a BOM or none), or UTF-16 with its BOM (a spreadsheet's
    "Unicode text"). Other bytes raise ValueError naming the line: replacing them would
    change cohorts and URLs unseen (`café` and `cafè` in Latin-1 both read `caf\ufffd`)."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start : error.start + 1].hex()
        raise ValueError(
            f"video list {path!r} is not UTF-8 text (byte 0x{byte} on line {line}): "
            "save it as UTF-8"
        ) from None


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
        raise ValueError(f"video list {path!r}: {parsed[0][1]}")
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
    row: dict | str, number: int, raw: str, error: Exception, default_cohort: str | None
) -> ErrorRecord:
    """A refused list row. It has no video key, even when its URL names a valid video (a
    duplicate, a row without a cohort): what it stands for is its list row, never that
    video, whose own row it must not replace; `forget` finds it by its URL."""
    fields = row if isinstance(row, dict) else {}
    cohort = fields.get("cohort") if isinstance(fields.get("cohort"), str) else None
    url = fields.get("url") or fields.get("video_id")
    return ErrorRecord(
        stage=Stage.INGEST,
        error_class=error.error_class if isinstance(error, RowError) else INVALID_ROW,
        message=f"row {number}: {_reason(error)}",
        retryable=False,
        input=raw[:2000],
        url=str(url)[:2000] if url else None,
        cohort=(cohort or default_cohort or None),
        row_number=number,
        attributes=_safe_attributes(fields),
    )


def _safe_attributes(fields: dict) -> dict[str, str]:
    """A broken row's free columns of FIELD_MAX_CHARS or fewer characters, or none when
    even they cannot be read as text."""
    try:
        attributes = row_attributes(fields)
    except (TypeError, ValueError, RecursionError):
        return {}
    return {k: v for k, v in attributes.items() if max(len(k), len(v)) <= FIELD_MAX_CHARS}
