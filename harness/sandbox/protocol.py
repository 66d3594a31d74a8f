"""The line protocol between the sandbox worker and the supervisor, and the names both sides share.

The worker writes one JSON object per line on a private copy of its original stdout:

    {"event": "ready"}                       job loaded; the supervisor's clock starts here
    {"event": "done", "index": k, "status": "ok" | <failure kind>, "message": ...}
    {"event": "finished"}                    every run of the session was attempted
    {"event": "fatal", "message": ...}       the job could not be loaded (before "ready" only)

Before each run the worker also writes `RUN_MARKER` on stderr, in the same stream as everything
the run prints, so that the supervisor can cut the output into per-run logs exactly.

Participant code runs in the worker's process and can write to any of its descriptors, so every
message after "ready" may be forged. The supervisor therefore trusts none of them for time (it
timestamps what it receives and ends the last run at the process's exit), accepts only the run it
expects next, and checks every returned model itself. This module imports nothing but the
standard library: the worker loads it before torch.
"""

from __future__ import annotations

import json
from typing import Any, Callable

# The per-sandbox settings file in the job folder (seeds, limits, visible paths), read before torch.
SESSION_FILE = "session.json"

READY = "ready"
DONE = "done"
FINISHED = "finished"
FATAL = "fatal"

OK = "ok"
# Every way a run can fail (submissions/README.md documents which behaviour ends in which).
IMPORT_ERROR = "import_error"
MISSING_FUNCTION = "missing_function"
EXCEPTION = "exception"
TIMEOUT = "timeout"
OUT_OF_MEMORY = "out_of_memory"
INVALID_MODEL = "invalid_model"
SANDBOX_VIOLATION = "sandbox_violation"
CRASHED = "crashed"
FAILURE_KINDS = (
    IMPORT_ERROR,
    MISSING_FUNCTION,
    EXCEPTION,
    TIMEOUT,
    OUT_OF_MEMORY,
    INVALID_MODEL,
    SANDBOX_VIOLATION,
    CRASHED,
)
# Not a failure: the run was never attempted because an earlier run of the job failed.
NOT_RUN = "not_run"

# Written on stderr before run k (bytes; % k). Record separators keep it apart from normal output.
RUN_MARKER = b"\x1e\x1eunlearn-harness run %d\x1e\x1e\n"
RUN_MARKER_PATTERN = rb"\x1e\x1eunlearn-harness run (\d{1,9})\x1e\x1e\n"
RUN_MARKER_MAX_BYTES = 40

# Longest message the supervisor keeps (the tail of a traceback is what helps).
MAX_MESSAGE_CHARS = 4000
# Longest protocol line the supervisor reads; anything longer is dropped, never buffered.
MAX_LINE_BYTES = 64 * 1024


def encode(event: str, **fields: Any) -> bytes:
    """One protocol message as a JSON line."""
    return (json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any] | None:
    """The message on `line`, or None when it is not a well-formed protocol message."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        return None
    return message


def clip_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The tail of `text` when it is too long (a traceback's last lines name the error)."""
    if len(text) <= limit:
        return text
    return "[...]" + text[-(limit - 5):]


class LineSplitter:
    """Split a byte stream into lines for `on_line`, dropping (not buffering) over-long lines."""

    def __init__(self, on_line: Callable[[bytes], None], max_line_bytes: int = MAX_LINE_BYTES):
        self._on_line = on_line
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line: skip up to its newline
        self.dropped_lines = 0

    def feed(self, data: bytes) -> None:
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            if not self._discarding:
                self._buffer += data[start:end]
                if len(self._buffer) > self._max:
                    self._buffer.clear()
                    self._discarding = True
                    self.dropped_lines += 1
            if newline < 0:
                return
            if not self._discarding:
                self._on_line(bytes(self._buffer))
            self._buffer.clear()
            self._discarding = False
            start = newline + 1
