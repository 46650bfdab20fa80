"""`affectflow refresh --config cohorts.toml`: the command around `pipelines.refresh`.

The config is checked before Beam and the models load (`--help` and a config mistake
answer at once).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from affectflow.pipelines.command_parser import CommandParser
from affectflow.pipelines.logs import phase

HELP_EPILOG = """\
The config (TOML) names the warehouse, the analyze options, the cohorts and their sources
(list files, playlist or channel URLs) and the reports to rewrite; its format, with every
key, is in the README ("Scheduled refreshes") and examples/refresh/cohorts.toml.

examples:
  affectflow refresh --config examples/refresh/cohorts.toml
  affectflow refresh --config cohorts.toml --dry-run      # count what is new; run nothing
  affectflow refresh --config cohorts.toml --wait 600     # from cron: wait for a running job
"""


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="affectflow refresh",
        description="Analyse the videos of the configured cohorts that no run has analysed "
        "yet with the same model and settings, then regenerate the reports.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="the refresh config (TOML)")
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait for the lock (0)"
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="retry videos that failed for good too"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the sources and count what is new; run nothing"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the refresh ran, 1 when it ran but a report failed, 2 on a bad config
    or job, 75 when the lock is taken."""
    from affectflow.pipelines.preflight import JobError
    from affectflow.pipelines.refresh_config import ConfigError, load_config
    from affectflow.schemas.printable import printable

    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        phase("checked the config; loading Beam, the model and its weights")
        from affectflow.pipelines.refresh import refresh

        result = refresh(
            config, retry_failed=args.retry_failed, wait_s=args.wait, dry_run=args.dry_run
        )
    except (ConfigError, JobError) as error:
        print(printable(f"affectflow refresh: {error}"), file=sys.stderr)
        return 2
    except Exception as error:  # the job failed; say what to fix, no traceback
        from affectflow.pipelines.failures import failed_exit

        return failed_exit("refresh", error)
    print(printable(result.line()))
    for line in result.summary.error_lines() if result.summary else []:
        print(line)
    for path in result.reports:
        print(printable(f"  {path}"))
    return 1 if result.report_failures else 0
