"""The units' clock: finished videos are committed on age even while nothing arrives.

A `UnitBuffer` (`transforms.units`) closes a unit when it is full or at the end of its
bundle; a bundle can last as long as its slowest download. Every live buffer of the
process registers here: a daemon thread ticks them (`tick`: write the ready videos once
the oldest has waited `max_seconds`), and `flush_all` writes what is ready at once (the
launcher's interrupt handler: what is finished when the job is stopped is committed).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Protocol

LOG = logging.getLogger(__name__)
TICK_S = 0.5
FLUSH_WAIT_S = 5.0


class Ticking(Protocol):
    def tick(self) -> None: ...

    def flush(self, timeout_s: float) -> None: ...


_buffers: weakref.WeakSet[Ticking] = weakref.WeakSet()
_guard = threading.RLock()  # an interrupt handler may run while its thread holds it
_thread: threading.Thread | None = None


def register(buffer: Ticking) -> None:
    """Tick `buffer` from now on (for as long as it lives)."""
    global _thread
    with _guard:
        _buffers.add(buffer)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="affectflow-unit-clock", daemon=True)
            _thread.start()


def _live() -> list[Ticking]:
    with _guard:
        return list(_buffers)


def _run() -> None:
    while True:
        time.sleep(TICK_S)
        for buffer in _live():
            try:
                buffer.tick()
            except Exception as error:  # the bundle's own write reports it (and retries)
                LOG.warning("could not commit a unit on time: %s", error)


def flush_all(timeout_s: float = FLUSH_WAIT_S) -> None:
    """Commit every buffer's finished videos now (on an interrupt)."""
    for buffer in _live():
        try:
            buffer.flush(timeout_s)
        except Exception as error:
            LOG.warning("could not commit the finished videos: %s", error)
