"""One local Beam worker process (`python -m affectflow.pipelines.worker`).

Sets up logging as the CLI does (`logs.setup_logging`), with the per-video lines on,
then runs Beam's SDK harness (`sdk_worker_main.main`, the worker Beam itself starts).
Beam is imported after the set-up, so its import-time warnings are filtered too.
"""

from __future__ import annotations

import sys

from affectflow.pipelines.logs import setup_logging


def main() -> None:
    """Run one worker until the runner closes its control channel."""
    setup_logging(verbose=False, progress=True)
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
