"""Which cores a sandbox is bound to: each concurrent sandbox on this machine gets its own.

Sandboxes run side by side (one per worker of the pipeline, several harnesses on one machine);
bound to the same core they would share it and each run more slowly. Every core this process
may use has a lock file; a sandbox holds the locks of the cores it is bound to for its whole
session (flock: released by the kernel if its supervisor dies), and one that finds too few free
cores waits for them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Iterator

LOCK_DIR = Path(tempfile.gettempdir()) / "unlearn-harness-cores"
WAIT_SECONDS = 0.05


@contextlib.contextmanager
def reserved_cores(count: int) -> Iterator[str]:
    """Hold `count` free cores (as many as there are, at most) and yield them as a cpuset list.

    All or nothing: a sandbox that cannot have all its cores holds none while it waits, so two
    waiting sandboxes can never hold each other's cores.
    """
    cores = sorted(os.sched_getaffinity(0))
    count = max(1, min(count, len(cores)))
    LOCK_DIR.mkdir(mode=0o1777, parents=True, exist_ok=True)
    held: list[tuple[int, int]] = []
    try:
        while True:
            held = _take(cores, count)
            if len(held) == count:
                break
            _release(held)
            held = []
            time.sleep(WAIT_SECONDS * (1 + random.random()))
        yield ",".join(str(core) for core, _ in held)
    finally:
        _release(held)


def _take(cores: list[int], count: int) -> list[tuple[int, int]]:
    held = []
    for core in cores:
        if len(held) == count:
            break
        descriptor = os.open(LOCK_DIR / f"core-{core}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        held.append((core, descriptor))
    return held


def _release(held: list[tuple[int, int]]) -> None:
    for _, descriptor in held:
        os.close(descriptor)  # closing the descriptor releases its lock
