"""Ingest: every row of a video list becomes a VideoRequest or an ErrorRecord."""

from __future__ import annotations

import codecs

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from affectflow.schemas.records import DUPLICATE_ROW, ErrorRecord, Stage, VideoRequest
from affectflow.sources.list_formats import FIELD_MAX_CHARS, MAX_COLUMNS, list_format
from affectflow.sources.video_keys import video_key_for, youtube_id
from affectflow.sources.video_list import parse_video_list, read_video_list
from affectflow.transforms.ingest import ReadVideoList


def _parse(text: str, fmt: str, **kwargs: object) -> list:
    return list(parse_video_list(text, fmt, **kwargs))


def test_csv_rows_become_requests_with_attributes() -> None:
    text = (
        "url,cohort,age_group\n"
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ,depression,30-39\n"
        "https://example.org/clip.mp4,control,20-29\n"
    )
    first, second = _parse(text, "csv")
    assert first == VideoRequest(
        video_key="youtube-dQw4w9WgXcQ",
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        cohort="depression",
        row_number=1,
        attributes={"age_group": "30-39"},
    )
    assert second.video_key.startswith("url-") and second.cohort == "control"


def test_video_id_column_becomes_watch_url() -> None:
    (request,) = _parse("video_id,cohort\ndQw4w9WgXcQ,a\n", "csv")
    assert request.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert request.video_key == "youtube-dQw4w9WgXcQ"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("foo://x/y.mp4,a", "unsupported URL scheme 'foo'"),
        ("javascript:alert(1),a", "unsupported URL scheme 'javascript'"),
        (",a", "no url or video_id"),
        ("https://example.org/v.mp4,", "no cohort"),
        ("/etc/passwd,a", "need --allow-local"),
        ("https://example.org/v.mp4,a,extra", "3 fields, the header has 2"),
        ("http:///nohost.mp4,a", "has no host"),
    ],
)
def test_bad_csv_rows_become_errors(row: str, message: str) -> None:
    (error,) = _parse(f"url,cohort\n{row}\n", "csv")
    assert isinstance(error, ErrorRecord)
    assert error.stage == Stage.INGEST and not error.retryable
    assert message in error.message
    assert error.row_number == 1


def test_video_id_with_path_characters_is_refused() -> None:
    (error,) = _parse("video_id,cohort\n../../etc/passwd,a\n", "csv")
    assert isinstance(error, ErrorRecord)
    assert "not an 11-character YouTube id" in error.message


def test_duplicates_are_errors_that_name_the_first_row() -> None:
    text = "url,cohort\nhttps://youtu.be/dQw4w9WgXcQ,a\nhttps://www.youtube.com/watch?v=dQw4w9WgXcQ,a\n"
    first, second = _parse(text, "csv")
    assert isinstance(first, VideoRequest)
    assert isinstance(second, ErrorRecord) and "duplicate of row 1" in second.message
    assert second.error_class == DUPLICATE_ROW and first.video_key in second.message


def test_the_first_row_of_a_video_is_the_first_in_list_order_whatever_the_spelling() -> None:
    """Which row is the duplicate depends on the list alone (never on a worker's order)."""
    a, b = "https://youtu.be/dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    for first_url, second_url in ((a, b), (b, a)):
        items = _parse(f"url,cohort\n{first_url},a\n{second_url},b\n{first_url},c\n", "csv")
        assert [type(i) for i in items] == [VideoRequest, ErrorRecord, ErrorRecord]
        assert items[0].url == first_url and items[0].cohort == "a"
        assert all("duplicate of row 1" in i.message for i in items[1:])


def test_jsonl_keeps_free_fields_and_reports_bad_lines() -> None:
    text = (
        '{"url": "https://example.org/a.mp4", "cohort": "a", "score": 3}\n'
        "not json\n"
        "[1, 2]\n"
        "\n"
        '{"video_id": 12345678901, "cohort": "b"}\n'
    )
    good, bad_json, not_object, numeric_id = _parse(text, "jsonl")
    assert good.attributes == {"score": "3"}
    assert "not valid JSON" in bad_json.message and bad_json.row_number == 2
    assert "not a JSON object" in not_object.message
    assert numeric_id.url.endswith("v=12345678901")


def test_txt_uses_default_cohort_and_skips_comments() -> None:
    text = "# cohort a\nhttps://example.org/a.mp4\n\nhttps://example.org/b.mp4\n"
    requests = _parse(text, "txt", default_cohort="a")
    assert [r.row_number for r in requests] == [2, 4]
    assert {r.cohort for r in requests} == {"a"}
    (error, _) = _parse(text, "txt")
    assert "no cohort" in error.message


def test_local_paths_resolve_against_the_list_folder(tmp_path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    text = "url,cohort\nclip.mp4,a\nfile://" + str(tmp_path / "clip.mp4") + ",b\nmissing.mp4,a\n"
    first, second, missing = _parse(text, "csv", allow_local=True, base_dir=str(tmp_path))
    assert first.is_local and first.url == str(tmp_path / "clip.mp4")
    assert isinstance(second, ErrorRecord) and "duplicate" in second.message
    assert isinstance(missing, ErrorRecord) and "does not exist" in missing.message


def test_keys_are_stable_and_path_safe() -> None:
    assert youtube_id("https://youtu.be/dQw4w9WgXcQ?t=3") == "dQw4w9WgXcQ"
    assert youtube_id("https://www.youtube.com/shorts/dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert youtube_id("https://example.org/watch?v=dQw4w9WgXcQ") is None
    a = video_key_for("HTTPS://Example.org/a.mp4#t=1")
    assert a == video_key_for("https://example.org/a.mp4")
    assert a != video_key_for("https://example.org/b.mp4")
    assert all(c.isalnum() or c == "-" for c in a)


def test_list_format_needs_a_known_suffix() -> None:
    assert list_format("videos.CSV") == "csv" and list_format("v.ndjson") == "jsonl"
    with pytest.raises(ValueError, match=r"\.csv, \.jsonl or \.txt"):
        list_format("videos.xlsx")


def test_read_video_list_in_a_pipeline(tmp_path) -> None:
    path = tmp_path / "videos.csv"
    path.write_text("url,cohort\nhttps://example.org/a.mp4,a\nftp://x/b.mp4,b\n")
    with TestPipeline(runner="FnApiRunner") as p:
        requests, failed = p | ReadVideoList(str(path))
        assert_that(requests | "Keys" >> beam.Map(lambda r: r.cohort), equal_to(["a"]))
        assert_that(
            failed | "Rows" >> beam.Map(lambda e: (e.row_number, e.stage)),
            equal_to([(2, Stage.INGEST)]),
            label="Failed",
        )


def _errors(items: list) -> dict[int, str]:
    return {e.row_number: e.message for e in items if isinstance(e, ErrorRecord)}


def test_hostile_csv_rows_are_row_errors_and_later_rows_are_read() -> None:
    huge = "x" * 200_000
    text = (
        "url,cohort\n"
        "https://example.org/a.mp4,a\n"
        f'"{huge}",a\n'
        "http://[::1/broken.mp4,a\n"
        "https://example.org/b.mp4,a\n"
    )
    items = _parse(text, "csv")
    assert len(items) == 4
    errors = _errors(items)
    assert set(errors) == {2, 3}
    assert "field larger than field limit" in errors[2] and "Invalid IPv6" in errors[3]
    assert [i.row_number for i in items if isinstance(i, VideoRequest)] == [1, 4]


def test_hostile_jsonl_lines_are_row_errors_and_numbers_stay_true() -> None:
    lines = [
        '{"url": "https://example.org/a.mp4", "cohort": "a"}',
        "[" * 100_000 + "]" * 100_000,
        '{"url": "https://example.org/b.mp4", "cohort": "a", "n": ' + "9" * 5000 + "}",
        '{"url": "https://example.org/c.mp4", "cohort": "a", "note": "x\u2028y\u2029z\x85"}',
        '{"url": "https://example.org/d.mp4", "cohort": "a"}',
    ]
    items = _parse("\n".join(lines) + "\n", "jsonl")
    assert len(items) == 5
    errors = _errors(items)
    assert set(errors) == {2, 3}
    assert "nested too deeply" in errors[2] and "digits" in errors[3]
    requests = {i.row_number: i for i in items if isinstance(i, VideoRequest)}
    assert set(requests) == {1, 4, 5}
    assert requests[4].attributes == {"note": "x\u2028y\u2029z\x85"}


def test_refused_rows_never_carry_the_key_of_the_video_they_name() -> None:
    """A duplicate or a row without a cohort stands for its list row, not for the video:
    with the video's key it would replace that video's own row (`forget` finds it by URL)."""
    url = "https://example.org/a.mp4"
    items = _parse(f"url,cohort\n{url},a\n{url},a\n{url},\n", "csv")
    assert [i.video_key for i in items] == [video_key_for(url), None, None]
    assert [type(i) for i in items] == [VideoRequest, ErrorRecord, ErrorRecord]
    assert [i.url for i in items[1:]] == [url, url]
    assert [i.error_class for i in items[1:]] == [DUPLICATE_ROW, "InvalidRow"]


def test_a_spreadsheets_export_reads_as_written() -> None:
    """`URL`/`Cohort` in any case, and a `;`- or tab-separated export (a comma locale)."""
    for text in (
        "URL;Cohort;Note\nhttps://example.org/a.mp4;a;x, y\n",
        "Url\tCOHORT\tNote\nhttps://example.org/a.mp4\ta\tx, y\n",
        'URL,Cohort,Note\nhttps://example.org/a.mp4,a,"x, y"\n',
    ):
        (request,) = _parse(text, "csv")
        assert isinstance(request, VideoRequest), text
        assert (request.url, request.cohort) == ("https://example.org/a.mp4", "a")
        assert request.attributes == {"Note": "x, y"}
    (jsonl,) = _parse('{"URL": "https://example.org/a.mp4", "Cohort": "b"}\n', "jsonl")
    assert isinstance(jsonl, VideoRequest) and jsonl.cohort == "b"
    (error,) = _parse("link;group\nhttps://example.org/a.mp4;a\n", "csv")
    assert "has no 'url' or 'video_id' column" in error.message


def test_local_files_are_stored_by_their_path_under_the_list_or_their_name(tmp_path) -> None:
    """The tables never hold the analyst's absolute paths; the file is still read by its
    real path, and its key is its real path's."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.mp4"
    outside.write_bytes(b"y")
    text = f"url,cohort\nclips/a.mp4,a\n{outside},a\n"
    inside, other = _parse(text, "csv", allow_local=True, base_dir=str(tmp_path))
    assert (inside.url_stored, other.url_stored) == ("clips/a.mp4", outside.name)
    assert inside.url == str(tmp_path / "clips" / "a.mp4") and other.url == str(outside)
    assert inside.video_key == video_key_for(str(tmp_path / "clips" / "a.mp4"), True)
    remote = _parse("url,cohort\nhttps://example.org/a.mp4,a\n", "csv")[0]
    assert remote.url_stored == remote.url


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_line_end_gives_one_row_per_line(end: str) -> None:
    """A lone CR (an old Mac or spreadsheet export) ends a line as LF and CRLF do; a CR
    inside a quoted CSV field stays in its field."""
    urls = ["https://example.org/a.mp4", "https://example.org/b.mp4"]
    lists = {
        "csv": "url,cohort,note" + end + end.join(f'{u},a,"x\ry"' for u in urls) + end,
        "jsonl": end.join(f'{{"url": "{u}", "cohort": "a"}}' for u in urls) + end,
        "txt": "# header" + end + end.join(urls) + end,
    }
    for fmt, text in lists.items():
        items = _parse(text, fmt, default_cohort="a")
        assert [(type(i), i.url) for i in items] == [(VideoRequest, u) for u in urls], fmt
    csv_rows = _parse(lists["csv"], "csv")
    assert [r.attributes for r in csv_rows] == [{"note": "x\ry"}] * 2


def test_a_utf16_list_reads_as_written_and_other_bytes_are_refused(tmp_path) -> None:
    """UTF-16 with its BOM (a spreadsheet's "Unicode text", tab-separated) is read; bytes
    that are not UTF-8 are refused, never replaced (two cohorts would become one)."""
    text = "URL\tCohort\nhttps://example.org/a.mp4\tcafé\n"
    for encoding in ("utf-16", "utf-16-be", "utf-8-sig"):
        path = tmp_path / f"{encoding}.csv"
        bom = codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b""
        path.write_bytes(bom + text.encode(encoding))
        (request,) = read_video_list(str(path))
        assert (request.url, request.cohort) == ("https://example.org/a.mp4", "café"), encoding
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 0xe9 on line 2\)"):
        list(read_video_list(str(path)))


def test_a_field_named_twice_or_holding_json_is_a_row_error_never_half_read() -> None:
    """JSON keeps the last of two same-named fields: a second `cohort` (or `URL` beside
    `url`) would silently replace the first; a list as url is not a file name."""
    lines = [
        '{"url": "https://example.org/a.mp4", "cohort": "a", "cohort": "b"}',
        '{"URL": "https://example.org/b.mp4", "url": "https://example.org/c.mp4", "cohort": "a"}',
        '{"url": ["https://example.org/d.mp4"], "cohort": "a"}',
        '{"url": "https://example.org/e.mp4", "cohort": {"name": "a"}}',
        '{"url": "https://example.org/f.mp4", "cohort": "a", "note": {"x": 1, "y": [2]}}',
    ]
    items = _parse("\n".join(lines) + "\n", "jsonl")
    assert _errors(items) == {
        1: "row 1: line cannot be read as JSON (line names field 'cohort' twice: one of "
        "them would be lost)",
        2: "row 2: line names field 'url' twice: one of them would be lost",
        3: "row 3: field 'url' holds an array, not text",
        4: "row 4: field 'cohort' holds an object, not text",
    }
    assert items[4].attributes == {"note": '{"x": 1, "y": [2]}'}
    (header,) = _parse("url,cohort,note,note\nhttps://example.org/a.mp4,a,x,y\n", "csv")
    assert "header names column 'note' twice" in header.message
    (request,) = _parse("url,cohort,,\nhttps://example.org/a.mp4,a,,\n", "csv")  # unnamed
    assert isinstance(request, VideoRequest)


def test_a_field_larger_than_a_csv_field_may_be_is_a_row_error_in_every_format() -> None:
    """A 50 MB note (or URL) in JSONL or TXT is refused as CSV refuses it, and the refused
    row does not carry it into the tables either."""
    huge = "x" * (FIELD_MAX_CHARS + 1)
    jsonl = (
        f'{{"url": "https://example.org/a.mp4", "cohort": "a", "note": "{huge}", "ok": "y"}}\n'
        '{"url": "https://example.org/b.mp4", "cohort": "a"}\n'
    )
    txt = f"https://example.org/{huge}.mp4\nhttps://example.org/b.mp4\n"
    for text, fmt, field in ((jsonl, "jsonl", "note"), (txt, "txt", "url")):
        error, request = _parse(text, fmt, default_cohort="a")
        assert isinstance(request, VideoRequest) and request.row_number == 2
        assert error.message == (
            f"row 1: field '{field}' is larger than 131,072 characters (the most a field may hold)"
        )
        assert len(error.input) <= 2000 and len(error.url or "") <= 2000
    assert _parse(jsonl, "jsonl")[0].attributes == {"ok": "y"}
    just_fits = "x" * FIELD_MAX_CHARS
    (request,) = _parse(f'url,cohort,note\nhttps://example.org/a.mp4,a,"{just_fits}"\n', "csv")
    assert request.attributes == {"note": just_fits}


def test_a_list_with_more_columns_than_max_columns_is_refused() -> None:
    """Every column is kept in every row's attributes: a header (or a JSONL line) of
    2,000,000 columns would make rows of 2,000,000 entries."""
    names = ",".join(f"c{i}" for i in range(MAX_COLUMNS - 1))
    (request,) = _parse(f"url,{names}\nhttps://example.org/a.mp4{',' * (MAX_COLUMNS - 1)}\n", "csv",
                        default_cohort="a")  # fmt: skip
    assert isinstance(request, VideoRequest) and len(request.attributes) == MAX_COLUMNS - 1
    (header,) = _parse(f"url,cohort,{names}\nhttps://example.org/a.mp4,a\n", "csv")
    assert header.message == "row 0: CSV header has 1,001 columns: at most 1,000"
    fields = ", ".join(f'"c{i}": 1' for i in range(MAX_COLUMNS))
    line = f'{{"url": "https://example.org/a.mp4", "cohort": "a", {fields}}}\n'
    (error,) = _parse(line, "jsonl")
    assert error.message == "row 1: line has 1,002 fields: at most 1,000"
