"""How many threads each library gets: from the cores this process may run on.

Libraries' defaults count the machine's cores (torch its physical cores, OpenCV and
FFmpeg all of them), not the cores the process is allowed (`taskset`, a container's
cpuset) nor the other workers sharing them: on a pinned or shared machine their threads
then spin against each other (a 20 s clip took 3 min instead of 19 s beside another job).
`worker_threads` splits the available cores among the local workers; `set_threads` gives
that number to torch (intra-op, OpenMP) and OpenCV; ONNX Runtime takes torch's count
(`models/mtcnn.py`) and FFmpeg's decoder the stage's (`media/frames.py`).
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform (macOS)
        return max(1, os.cpu_count() or 1)


def worker_threads(workers: int, cores: int | None = None) -> int:
    """Threads for each of `workers` processes sharing `cores` (default: the available)."""
    return max(1, (cores or available_cores()) // max(1, workers))


def set_threads(threads: int) -> None:
    """torch's intra-op (OpenMP) and OpenCV's thread counts, for this process."""
    import cv2  # here: counting the cores (a flag's check) loads neither
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
