"""Capture of a submission's output: each run's log keeps its head and tail, never all of it."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path


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

    def close(self, footer: str = "") -> None:
        if self._file.closed:
            return
        tail = b"".join(self._tail)
        excess = max(0, len(tail) - self._tail_limit)
        self.dropped += excess
        if self.dropped:
            self._file.write(f"\n[... {self.dropped} bytes of output omitted ...]\n".encode())
        self._file.write(tail[excess:])
        if footer:
            self._file.write(footer.encode())
        self._file.close()


class LogRouter:
    """Send a sandbox's output to the log of the run in progress; thread-safe (readers write)."""

    def __init__(self, head_bytes: int, tail_bytes: int):
        self._head_bytes = head_bytes
        self._tail_bytes = tail_bytes
        self._lock = threading.Lock()
        self._current: BoundedLog | None = None

    def switch(self, path: Path | None, header: str = "", footer: str = "") -> None:
        """Close the current log (with `footer`) and send further output to `path` (None: discard)."""
        with self._lock:
            if self._current is not None:
                self._current.close(footer)
            self._current = None if path is None else BoundedLog(path, self._head_bytes, self._tail_bytes, header)

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._current is not None:
                self._current.write(data)

    def note(self, text: str) -> None:
        """A line from the supervisor itself into the current log."""
        self.write(f"\n[supervisor] {text}\n".encode())

    def close(self, footer: str = "") -> None:
        self.switch(None, footer=footer)
