"""One analyze job over a corpus of bad inputs: each ends as data, the good clips finish.

Every kind of bad input becomes one `videos` row (failed, duplicate, or no_faces for a
clip without faces) and, when failed or a duplicate, one `errors` row whose message says
what went wrong; retryable HTTP errors are retried (tiny back-off) before failing. The
CLI exits 0 when the job ran and 2 with a message when it could not.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections import Counter
from pathlib import Path

import cv2
import duckdb
import numpy as np
import pytest

import affectflow
from affectflow.pipelines import cli
from affectflow.pipelines.analyze import run
from affectflow.pipelines.summary import RunSummary

pytestmark = pytest.mark.slow  # the corpus runs a whole job

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
# 20 s of frames (a face in each) in a Matroska file whose header says 2 s
LYING = FACES.parent / "crafted" / "lying_duration.mkv"
HEADER = ["url", "video_id", "cohort", "note"]
MAX_DURATION_S = 8  # hamilton_short_clip (9.2 s) is too long; the others are shorter
MAX_FILESIZE = 1_000_000  # pyfeat_face_noface.mov (1.3 MB) is too big
# name: (status, stage, words in the message, retryable); None for ok / no_faces.
REFUSED = ("failed", "duplicate")  # statuses with an errors row
Expected = tuple[str, str | None, str | None, bool | None]
EXPECTED: dict[str, Expected] = {
    "good_single": ("ok", None, None, None),
    "good_carphone": ("ok", None, None, None),
    "crowd": ("ok", None, None, None),
    "noface": ("no_faces", None, None, None),
    "too_many_fields": ("failed", "ingest", "row has 5 fields, the header has 4", False),
    "too_few_fields": ("failed", "ingest", "fewer fields than the header", False),
    "no_cohort": ("failed", "ingest", "row has no cohort", False),
    "duplicate": ("duplicate", "ingest", "duplicate of row 1", False),
    "foo_scheme": ("failed", "ingest", "unsupported URL scheme 'foo'", False),
    "javascript": ("failed", "ingest", "unsupported URL scheme 'javascript'", False),
    "path_id": ("failed", "ingest", "is not an 11-character YouTube id", False),
    "html_page": ("failed", "download", "no video found at", False),
    "http_404": ("failed", "download", "HTTP 404 Not Found", False),
    "http_403": ("failed", "download", "HTTP 403 Forbidden", False),
    "http_429": ("failed", "download", "HTTP 429 Too Many Requests", True),
    "http_500": ("failed", "download", "HTTP 500 Internal Server Error", True),
    "hang": ("failed", "download", "timed out", True),
    "cut": ("failed", "download", "download cut short", True),
    "garbage": ("failed", "download", "not a valid video", False),
    "truncated": ("failed", "download", "not a valid video", False),
    "zero_bytes": ("failed", "download", "empty", False),
    "too_long": ("failed", "download", "over max_duration 8 s", False),
    "lying_header": ("failed", "download", "its header says 2.0 s, over max_duration 8", False),
    "too_big": ("failed", "download", "max-filesize", False),
    "image": ("failed", "download", "a still image, not a video", False),
}


@dataclasses.dataclass
class Corpus:
    warehouse: Path
    cache: Path
    rows: dict[str, int]  # name -> row number in the list
    summary: RunSummary
    server: object

    def query(self, sql: str, **params: object) -> list[tuple]:
        con = duckdb.connect()
        for table in ("videos", "faces", "errors"):
            glob = str(self.warehouse / table / "**" / "*.parquet")
            con.execute(f"create view {table} as select * from read_parquet('{glob}')")
        return con.execute(sql, params).fetchall()


def crowd_video(path: Path, rows: int = 4, columns: int = 6, frames: int = 8) -> Path:
    """A short clip (10 fps) of a still grid of rows x columns copies of a real face photo."""
    tile = cv2.resize(cv2.imread(str(FACES / "0-f1-su-ph.jpg")), (72, 72))
    grid = np.tile(tile, (rows, columns, 1))
    height, width = grid.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(grid)
    writer.release()
    return path


def _csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def _entries(server, videos: Path, tmp: Path) -> list[tuple[str, str]]:
    """(name, CSV line) of every kind of input, the good clip first."""
    pexels = (videos / "pyfeat_WolfgangLanger_Pexels.mp4").read_bytes()
    carphone = (videos / "carphone_pristine.mp4").read_bytes()
    single = server.add_file("bad/single.mp4", videos / "pyfeat_single_face.mp4")
    urls = {
        "good_single": single,
        "good_carphone": server.add_file("bad/carphone.mp4", videos / "carphone_pristine.mp4"),
        "crowd": server.add_file("bad/crowd.mp4", crowd_video(tmp / "crowd.mp4")),
        "noface": server.add_file("bad/noface.mp4", videos / "pyfeat_no_face.mp4"),
        "duplicate": single,
        "foo_scheme": "foo://example.org/clip.mp4",
        "javascript": "javascript:alert(document.cookie)",
        "html_page": server.add_file("bad/page.html", b"<html><body><p>text</p></body></html>"),
        "http_404": server.url("bad/gone.mp4"),
        "http_403": server.route("bad/403.mp4", status=403, body=b"no"),
        "http_429": server.route("bad/429.mp4", status=429, body=b"slow down"),
        "http_500": server.route("bad/500.mp4", status=500, body=b"oops"),
        "hang": server.route("bad/hang.mp4", body=b"late", delay_s=3.0),
        "cut": server.route(
            "bad/cut.mp4",
            body=carphone[:100_000],
            content_type="video/mp4",
            declared_length=len(carphone),
        ),
        "garbage": server.add_file("bad/garbage.mp4", bytes(range(256)) * 400),
        # frames to 5.6 s (under the limit) of the 19.7 s its header says
        "truncated": server.add_file("bad/truncated.mp4", pexels[: len(pexels) * 3 // 10]),
        "zero_bytes": server.add_file("bad/empty.mp4", b""),
        "too_long": server.add_file("bad/long.mp4", videos / "hamilton_short_clip.mp4"),
        "lying_header": server.add_file("bad/lying.mkv", LYING),
        "too_big": server.add_file("bad/big.mov", videos / "pyfeat_face_noface.mov"),
        "image": server.add_file("bad/face.jpg", FACES / "single_face.jpg"),
    }
    lines = [(name, _csv_line([url, "", "a", name])) for name, url in urls.items()]
    lines += [
        ("too_many_fields", _csv_line([server.url("bad/x.mp4"), "", "a", "n", "extra"])),
        ("too_few_fields", _csv_line([server.url("bad/y.mp4")])),
        ("no_cohort", _csv_line([server.url("bad/z.mp4"), "", "", "no_cohort"])),
        ("path_id", _csv_line(["", "../../etc/passwd", "a", "path_id"])),
    ]
    return lines


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory, session_http_server, videos_dir, model_cache_dir, fer_weights
) -> Corpus:
    folder = tmp_path_factory.mktemp("bad-inputs")
    entries = _entries(session_http_server, videos_dir, folder)
    video_list = folder / "videos.csv"
    video_list.write_text(_csv_line(HEADER) + "".join(line for _, line in entries))
    cache = folder / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(model_cache_dir / "models", target_is_directory=True)
    summary = run(
        [
            str(video_list),
            "--warehouse", str(folder / "out"),
            "--cache-dir", str(cache),
            "--retries", "1",
            "--backoff-s", "0.01",
            "--socket-timeout", "0.5",
            "--max-duration", str(MAX_DURATION_S),
            "--max-filesize", str(MAX_FILESIZE),
        ]
    )  # fmt: skip
    rows = {name: number for number, (name, _) in enumerate(entries, start=1)}
    return Corpus(folder / "out", cache, rows, summary, session_http_server)


def test_corpus_has_every_kind(corpus: Corpus) -> None:
    assert set(corpus.rows) == set(EXPECTED)
    assert sum(status == "failed" for status, *_ in EXPECTED.values()) >= 19


def test_every_row_ends_as_one_videos_row_with_its_status(corpus: Corpus) -> None:
    statuses = dict(corpus.query("select row_number, status from videos"))
    assert len(statuses) == len(corpus.rows) == corpus.summary.videos_total
    got = {name: statuses.get(number) for name, number in corpus.rows.items()}
    assert got == {name: expected[0] for name, expected in EXPECTED.items()}


@pytest.mark.parametrize("name", [n for n, e in EXPECTED.items() if e[0] in REFUSED])
def test_each_failure_has_one_readable_error_row(corpus: Corpus, name: str) -> None:
    _, stage, words, retryable = EXPECTED[name]
    rows = corpus.query(
        "select stage, message, retryable from errors where row_number = $n", n=corpus.rows[name]
    )
    assert len(rows) == 1, rows
    got_stage, message, got_retryable = rows[0]
    assert (got_stage, got_retryable) == (stage, retryable), message
    assert words in message
    assert len(message) < 300 and "Traceback" not in message and "\n" not in message


def test_the_duplicate_row_is_counted_the_same_everywhere(corpus: Corpus) -> None:
    """Summary, `videos`, `latest_videos`, `data_quality` and `errors`: one duplicate, and
    the video it repeats is still there, ok (whichever unit a worker committed first)."""
    wanted = Counter(status for status, *_ in EXPECTED.values())
    summary = corpus.summary
    assert (summary.videos_duplicate, summary.videos_failed) == (1, wanted["failed"])
    assert f"{wanted['failed']} failed, 1 duplicate" in summary.line()
    con = affectflow.open(str(corpus.warehouse))
    for view in ("videos", "latest_videos"):
        counts = dict(con.sql(f"select status, count(*) from {view} group by all").fetchall())
        assert counts == dict(wanted), view
    first = corpus.rows["good_single"]
    rows = con.sql("select row_number, status, video_key from videos where url like '%bad/single%'")
    (ok_key,) = [key for number, status, key in rows.fetchall() if number == first]
    assert dict((n, s) for n, s, _ in rows.fetchall()) == {
        first: "ok",
        corpus.rows["duplicate"]: "duplicate",
    }
    assert ok_key is not None
    quality = affectflow.report("data_quality", str(corpus.warehouse), min_videos=1)
    (row,) = quality.to_dict("records")
    cohort_a = dict(
        con.execute(
            "select status, count(*) from videos where cohort = 'a' group by all"
        ).fetchall()
    )
    assert (row["videos"], row["videos_duplicate"]) == (sum(cohort_a.values()), 1)
    assert (row["videos_ok"], row["videos_failed"]) == (cohort_a["ok"], cohort_a["failed"])
    errors = affectflow.report("errors", str(corpus.warehouse), min_videos=1)
    duplicate = errors[errors["message"].str.startswith("duplicate of row 1")]
    assert duplicate[["stage", "error_class", "inputs"]].values.tolist() == [
        ["ingest", "DuplicateRow", 1]
    ]


def test_retryable_errors_are_retried_and_permanent_ones_are_not(corpus: Corpus) -> None:
    requests = corpus.server.requests
    assert requests("bad/429.mp4") == requests("bad/500.mp4") == 2
    assert requests("bad/gone.mp4") == requests("bad/403.mp4") == 1
    message = corpus.query(
        "select message from errors where row_number = $n", n=corpus.rows["http_429"]
    )
    assert message[0][0].endswith("(after 2 attempts)")


def test_no_faces_and_good_videos_leave_no_error_rows(corpus: Corpus) -> None:
    fine = [corpus.rows[n] for n, e in EXPECTED.items() if e[0] not in REFUSED]
    errors = corpus.query("select count(*) from errors where row_number in $rows", rows=fine)
    assert errors == [(0,)]


def test_good_clips_and_the_crowd_give_faces(corpus: Corpus) -> None:
    per_frame = corpus.query(
        "select v.row_number, max(n) from videos v join ("
        "  select video_key, frame_index, count(*) as n from faces group by all"
        ") using (video_key) group by all"
    )
    most = dict(per_frame)
    assert most[corpus.rows["crowd"]] >= 20
    assert most[corpus.rows["good_single"]] >= 1 and most[corpus.rows["good_carphone"]] >= 1


def test_a_header_that_understates_the_duration_fools_nothing(corpus: Corpus) -> None:
    number = corpus.rows["lying_header"]
    ((message,),) = corpus.query("select message from errors where row_number = $n", n=number)
    # its frames were read up to the first one past 8 s (of 20 s), none decoded for faces
    assert re.search(r"frames run past [89]\.\d s although its header says 2\.0 s", message)
    faces = corpus.query(
        "select count(*) from faces join videos using (video_key) where row_number = $n",
        n=number,
    )
    assert faces == [(0,)]


def test_downloads_are_deleted_after_analysis_and_nothing_escapes(corpus: Corpus) -> None:
    # Downloads land in <cache-dir>/videos, yt-dlp works in <cache-dir>/tmp.
    left = [p for d in ("videos", "tmp") for p in (corpus.cache / d).rglob("*") if p.is_file()]
    assert left == []
    assert not [p for p in corpus.cache.parent.rglob("passwd")]


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(["--quiet", "analyze", *argv])
    return code, capsys.readouterr().err


def test_cli_exits_0_when_the_job_ran_even_if_every_row_failed(
    tmp_path: Path, model_cache_dir: Path, fer_weights, capsys
) -> None:
    video_list = tmp_path / "list.csv"
    video_list.write_text("url,cohort\nfoo://x,a\n")
    args = [
        str(video_list),
        "--warehouse",
        str(tmp_path / "out"),
        "--cache-dir",
        str(model_cache_dir),
    ]
    code, _ = _cli(args, capsys)
    assert code == 0
    assert list((tmp_path / "out" / "runs").glob("run-*.parquet"))


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--model", "no-such-model"], "invalid choice: 'no-such-model'"),
        (["--missing"], "does not exist"),
    ],
)
def test_cli_exits_2_with_a_message_when_the_job_cannot_run(
    tmp_path: Path, extra: list[str], words: str, capsys
) -> None:
    video_list = tmp_path / "list.csv"
    video_list.write_text("url,cohort\nfoo://x,a\n")
    target = str(tmp_path / "nope.csv") if extra == ["--missing"] else str(video_list)
    options = [o for o in extra if o != "--missing"]
    code, err = _cli([target, "--warehouse", str(tmp_path / "out"), *options], capsys)
    assert code == 2
    assert err.startswith("affectflow analyze: ") and words in err
    assert not (tmp_path / "out").exists()
