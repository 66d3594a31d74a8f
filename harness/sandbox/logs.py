"""Capture of a submission's output: each run's log keeps its head and tail, never all of it."""

from __future__ import annotations

import re
import threading
from collections import deque
from pathlib import Path
from typing import Callable

from harness.sandbox.protocol import RUN_MARKER_MAX_BYTES, RUN_MARKER_PATTERN

_RUN_MARKER = re.compile(RUN_MARKER_PATTERN)


class BoundedLog:
    """A log file that keeps the first `head_bytes` and the last `tail_bytes` of what is written.

    The head goes to disk as it arrives; the tail lives in memory (at most `tail_bytes`) and is
    written on `close`, after a line saying how much was dropped. Memory stays bounded whatever
    a submission prints.
    """

    def __init__(self, path: Path, head_bytes: int, tail_bytes: int, header: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        if header:
            self._file.write(header.encode())
        self._head_left = head_bytes
        self._tail_limit = tail_bytes
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.dropped = 0
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        if self._head_left > 0:
            head = data[: self._head_left]
            self._file.write(head)
            self._file.flush()
            self._head_left -= len(head)
            data = data[len(head):]
        if not data:
            return
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size - len(self._tail[0]) >= self._tail_limit:
            self.dropped += len(self._tail[0])
            self._tail_size -= len(self._tail[0])
            self._tail.popleft()

    def close(self) -> None:
        if self._file.closed:
            return
        tail = b"".join(self._tail)
        excess = max(0, len(tail) - self._tail_limit)
        self.dropped += excess
        if self.dropped:
            self._file.write(f"\n[... {self.dropped} bytes of output omitted ...]\n".encode())
        self._file.write(tail[excess:])
        self._file.close()


class LogRouter:
    """Cut a sandbox's output into per-run logs at the worker's run markers; thread-safe.

    Output before the first marker goes to the session's log. A marker for run k switches to the
    log `open_run(k)` names, only when k is the run expected next: a submission that prints fake
    markers can at most misplace its own output, never reorder the runs.
    """

    def __init__(self, head_bytes: int, tail_bytes: int, open_run: Callable[[int], tuple[Path, str]]):
        self._head_bytes = head_bytes
        self._tail_bytes = tail_bytes
        self._open_run = open_run
        self._lock = threading.Lock()
        self._current: BoundedLog | None = None
        self._next_run = 0
        self._carry = b""  # the end of the last chunk, when it may start a marker

    def start(self, path: Path, header: str) -> None:
        """Send output to `path` until the first run marker."""
        with self._lock:
            self._switch(path, header)

    def _switch(self, path: Path | None, header: str = "") -> None:
        if self._current is not None:
            self._current.close()
        self._current = None if path is None else BoundedLog(path, self._head_bytes, self._tail_bytes, header)

    def _write(self, data: bytes) -> None:
        if data and self._current is not None:
            self._current.write(data)

    def write(self, data: bytes) -> None:
        with self._lock:
            data, self._carry = self._carry + data, b""
            position = 0
            for marker in _RUN_MARKER.finditer(data):
                self._write(data[position:marker.start()])
                position = marker.end()
                if int(marker.group(1)) == self._next_run:
                    self._switch(*self._open_run(self._next_run))
                    self._next_run += 1
            rest = data[position:]
            if b"\x1e" in rest[-RUN_MARKER_MAX_BYTES:]:  # hold back what may be half a marker
                rest, self._carry = rest[:-RUN_MARKER_MAX_BYTES], rest[-RUN_MARKER_MAX_BYTES:]
            self._write(rest)

    def note(self, text: str) -> None:
        """A line from the supervisor itself into the current log."""
        with self._lock:
            self._write(f"\n[supervisor] {text}\n".encode())

    def close(self) -> None:
        with self._lock:
            self._write(self._carry)
            self._carry = b""
            self._switch(None)
