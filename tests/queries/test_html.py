"""HTML reports: one self-contained file, inline PNG plots, escaped data, no matplotlib needed."""

from __future__ import annotations

import base64
import re
import sys
from html import escape

import pytest

from affectflow.pipelines.cli import main
from affectflow.queries.html import NO_MATPLOTLIB, PLOTS, render_html
from affectflow.queries.runner import Report, connect, run_report

# every test reads the `cohorts` warehouse a real pipeline writes
pytestmark = pytest.mark.slow

IMAGE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def con(cohorts):
    return connect(str(cohorts.warehouse))


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in IMAGE.findall(page)]


def test_html_report_is_one_self_contained_file_with_inline_pngs(cohorts, tmp_path) -> None:
    out = tmp_path / "report.html"
    argv = ["report", "--warehouse", str(cohorts.warehouse), "--min-videos", "1"]
    assert main([*argv, "--format", "html", "--out", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    page = out.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    pngs = images(page)
    assert len(pngs) == 3  # emotion distribution, negative share with CIs, timelines
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000 for png in pngs)
    assert not re.search(r"<(script|link)\b|src=\"(?!data:)", page)
    assert "<table>" in page and "depressed" in page


def test_masked_rows_are_not_plotted_and_the_page_says_so(con) -> None:
    page = render_html(con, run_report(con, "cohort_summary", {"min_videos": 5}))
    assert page.count('<tr class="masked">') == 1  # control: 4 videos
    assert "masked" in page and "small-cell suppression" in page
    assert len(images(page)) == 2  # the per-video timeline is masked (one video per row)
    assert "timeline" not in page.lower()  # no note about a plot that is not on the page
    masked = render_html(con, run_report(con, "video_timeline", {"min_videos": 5}))
    assert not images(masked) and "no plot: every row is masked" in masked


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_each_plotted_report_draws_its_plot(con, name) -> None:
    page = render_html(con, run_report(con, name, {"min_videos": 1}))
    assert len(images(page)) == 1, name


def test_without_matplotlib_the_page_keeps_its_tables(con, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    page = render_html(con, run_report(con, "negative_share", {"min_videos": 1}))
    assert page.count(escape(NO_MATPLOTLIB)) == 1 and "<img" not in page
    assert "<table>" in page and "depressed" in page


def test_text_from_the_data_is_escaped(con) -> None:
    hostile = '<script>alert("x")</script>'
    columns = ["cohort", "suppressed", "negative_share", "ci_low", "ci_high"]
    report = Report("negative_share", columns, [(hostile, False, 0.5, 0.4, 0.6)], {"seed": hostile})
    page = render_html(con, report)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert len(images(page)) == 1


def test_html_tables_show_rounded_numbers(con) -> None:
    """People read 0.5211, not 0.5210727969348659; csv/json/parquet keep every digit."""
    report = run_report(con, "cohort_summary", {"min_videos": 1})
    page = render_html(con, report)
    cells = re.findall(r"<td>([^<]*)</td>", page)
    numbers = [c for c in cells if re.fullmatch(r"-?[\d,]*\.\d+", c)]
    significant = [
        c.replace(",", "").replace("-", "").replace(".", "").lstrip("0") for c in numbers
    ]
    assert numbers and all(len(digits) <= 4 for digits in significant), numbers
    exact = [v for row in report.rows for v in row if isinstance(v, float)]
    assert any(len(repr(v).split(".")[1]) > 4 for v in exact)  # the data had more digits
    assert '<div class="wide"><table>' in page  # a wide table scrolls instead of being cut


def _legend_texts(fig) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [text.get_text() for legend in legends for text in legend.get_texts()]


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_every_series_and_mark_of_a_plot_has_a_legend_entry(con, name) -> None:
    from matplotlib.figure import Figure

    report = run_report(con, name, {"min_videos": 1})
    fig = PLOTS[name](report, Figure)
    assert fig is not None, name
    texts = _legend_texts(fig)
    records = [r for r in report.records() if not r["suppressed"]]
    if name in ("trend_by_month", "video_summary"):
        drawn = {str(r["cohort"]) for r in records if r.get("negative_share") is not None}
        assert {t.split(" (")[0] for t in texts} >= drawn, texts
    elif name == "video_timeline":
        assert set(texts) >= {r["label"] for r in records} and "white: no face in the bin" in texts
    elif name in ("paper_figure5", "cohort_emotions"):
        assert set(texts) == {str(r["cohort"]) for r in records}
    elif name == "data_quality":
        assert {"ok", "no faces", "failed", "duplicate row"} <= set(texts)
    elif name == "errors":
        assert set(texts) == {str(r["stage"]) for r in records}
    else:  # one series with its interval
        assert texts and any("CI" in t for t in texts), texts
    title = fig.get_suptitle() or fig.axes[0].get_title()
    assert "?" in title, title  # a question, not a claim
