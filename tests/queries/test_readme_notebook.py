"""The README's notebook example, run as it is written, on the bundled example list: it
analyses the six clips and its report returns numbers (not the all-masked frame a
default `min_videos` gives a cohort of three videos)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def notebook_block() -> str:
    """The Python block of the README's "Python (notebooks)" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Python (notebooks)", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_notebook_example_returns_numbers(tmp_path, monkeypatch, model_cache_dir):
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "videos.csv", tmp_path / "examples" / "videos.csv")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "tests" / "data" / "videos").symlink_to(ROOT / "tests" / "data" / "videos")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFFECTFLOW_CACHE_DIR", str(model_cache_dir))
    names: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(notebook_block(), "README.md", "exec"), names)
    assert names["summary"].videos_total == 6 and names["summary"].videos_failed == 0
    df = names["df"]
    assert set(df["cohort"]) == {"example-a", "example-b"} and not df["suppressed"].any()
    shares = df[["negative_share", "ci_low", "ci_high"]]
    assert shares.notna().all().all() and ((shares >= 0) & (shares <= 1)).all().all()
    assert pd.api.types.is_float_dtype(df["negative_share"])
    assert str(df["videos"].dtype) == "Int64"
    assert "example-a" in printed.getvalue() and "None" not in printed.getvalue()
    assert names["report"].rows
