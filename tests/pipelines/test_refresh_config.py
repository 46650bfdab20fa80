"""The refresh config: what it accepts, and a clear error for what it does not."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from affectflow.pipelines.cli import main as cli_main
from affectflow.pipelines.options import add_analyze_arguments
from affectflow.pipelines.refresh_config import ConfigError, load_config

GOOD = """\
warehouse = "wh"

[analyze]
fps = 5
allow_local = true
keep-title = false
cache_dir = "cache"

[beam]
runner = "FnApiRunner"

[cohorts.depression]
sources = ["lists/dep.csv", "https://www.youtube.com/playlist?list=PLx"]

[cohorts.control]
sources = [{ url = "https://example.org/feed.xml", max_videos = 3 }]

[reports]
names = ["negative_share"]
formats = ["csv"]
params = { n_boot = 50 }
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cohorts.toml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_a_good_config_resolves_paths_next_to_it(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert config.warehouse == str(tmp_path / "wh")
    assert config.analyze_args == (
        f"--warehouse={tmp_path / 'wh'}",
        "--fps=5",
        "--allow_local",
        f"--cache_dir={tmp_path / 'cache'}",
        "--runner=FnApiRunner",
    )
    depression, control = config.cohorts
    assert depression.name == "depression"
    assert [(s.target, s.is_url) for s in depression.sources] == [
        (str(tmp_path / "lists" / "dep.csv"), False),
        ("https://www.youtube.com/playlist?list=PLx", True),
    ]
    assert control.sources[0].max_videos == 3
    assert config.reports.names == ("negative_share",) and config.reports.params == {"n_boot": 50}
    assert config.reports.out_dir == str(tmp_path / "reports")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("fps = 5", "fsp = 5"), "unknown option 'fsp' (did you mean 'fps'?)"),
        (("fps = 5", 'fps = "fast"'), "--fps: takes a number, not 'fast'"),
        (("allow_local = true", "allow_local = 1"), "allow_local: expected true or false"),
        (("fps = 5", 'cohort = "x"'), "unknown option 'cohort'"),
        (("fps = 5", "fps = 0"), "--fps: must be more than 0, not 0"),
        (('warehouse = "wh"', ""), '`warehouse = "DIR"` is required'),
        (('runner = "FnApiRunner"', 'runer = "x"'), "[beam]: unknown option 'runer'"),
        (("max_videos = 3", "max_videos = 0"), "max_videos: a positive integer"),
        (('names = ["negative_share"]', 'names = ["nope"]'), "unknown key 'nope'"),
        (("n_boot = 50", "boots = 50"), "[reports].params: unknown key 'boots'"),
        (("n_boot = 50", "n_boot = 1000000000"), "n_boot must be at most 100,000"),
        (("[cohorts.control]", "[cohorts.control]\nsources = []\n[x]"), "unknown key 'x'"),
    ],
)
def test_a_bad_config_names_the_key(tmp_path: Path, change, message) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, GOOD.replace(*change)))
    assert message in str(error.value)


def test_the_cli_exits_2_on_a_bad_config(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, "warehouse = [")
    assert cli_main(["refresh", "--config", path]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert cli_main(["refresh", "--config", str(tmp_path / "missing.toml")]) == 2


def test_on_off_options_are_the_ones_whose_default_is_false() -> None:
    """`[analyze]` takes true/false exactly for the options a bare `--name` switches on."""
    parser = argparse.ArgumentParser(exit_on_error=False, add_help=False)
    add_analyze_arguments(parser)
    defaults = vars(parser.parse_args([]))
    switches = {dest for dest, value in defaults.items() if isinstance(value, bool)}
    assert {"allow_local", "keep_title", "keep_videos", "force"} <= switches
    for dest in defaults:
        if dest in switches:
            assert vars(parser.parse_args([f"--{dest}"]))[dest] is True
        else:
            with pytest.raises(argparse.ArgumentError):
                parser.parse_args([f"--{dest}"])
