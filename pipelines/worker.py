"""One local Beam worker process (`python -m affectflow.pipelines.worker`).

Sets up logging as the CLI does (`logs.setup_logging`), with the per-video lines on,
then runs Beam's SDK harness (`sdk_worker_main.main`, the worker Beam itself starts).
Beam is imported after the set-up, so its import-time warnings are filtered too.
Ctrl-C reaches every process of the terminal's group: a worker ignores it (it would
print a KeyboardInterrupt traceback per thread) and the launcher stops the workers
(`child_processes.stop_descendants`).
"""

from __future__ import annotations

import signal
import sys

from affectflow.pipelines.logs import setup_logging


def main() -> None:
    """Run one worker until the runner closes its control channel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging(verbose=False, progress=True)
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
