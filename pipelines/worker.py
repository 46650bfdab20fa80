"""One local Beam worker process (`python -m affectflow.pipelines.worker`).

Sets up logging as the CLI does (`logs.setup_logging`), with the per-video lines on,
then runs Beam's SDK harness (`sdk_worker_main.main`, the worker Beam itself starts).
Beam is imported after the set-up, so its import-time warnings are filtered too.
Ctrl-C reaches every process of the terminal's group: a worker ignores it (it would
print a KeyboardInterrupt traceback per thread) and the launcher stops the workers
(`child_processes.stop_descendants`) with SIGTERM: a thread of the worker waits for it
(blocked in every other thread, so it never lands in Beam's), commits the videos the
worker has finished (`unit_clock.flush_all`) and ends the process at once, quietly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from affectflow.pipelines.logs import setup_logging


def _stop_on_sigterm() -> None:
    """Block SIGTERM in this thread (and the threads it starts); one thread waits for it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def wait() -> None:
        signal.sigwait({signal.SIGTERM})
        try:
            from affectflow.transforms.unit_clock import flush_all

            flush_all()
        finally:
            os._exit(0)

    threading.Thread(target=wait, name="affectflow-sigterm", daemon=True).start()


def main() -> None:
    """Run one worker until the runner closes its control channel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_on_sigterm()
    setup_logging(verbose=False, progress=True)
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
