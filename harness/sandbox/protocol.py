"""The line protocol between the sandbox worker and the supervisor, and the names both sides share.

The worker (the sandbox's PID 1, trusted code that never runs participant code) writes one JSON
object per line on a private copy of its original stdout:

    {"event": "ready"}                       job loaded: start-up is over
    {"event": "prepared", "index": k}        run k's process exists and waits to be released
    {"event": "done", "index": k, "status": "ok" | <failure kind>, "message": ...}
                                             run k ended and every process it started is gone
    {"event": "finished"}                    every run of the session was attempted
    {"event": "fatal", "message": ...}       the job could not be loaded (before "ready" only)

The supervisor answers each "prepared" by creating the file `go-<k>` in the job folder's
`control/` folder once it has read the sandbox's clocks: run k is charged from that moment to
its "done", a span in which only run k can work (see harness.sandbox.supervisor).

Each run is a fresh process forked by the worker; it closes the channel before any participant
code runs and cannot reach the worker's descriptors (the worker is non-dumpable), so it cannot
write here. The supervisor still treats every line as untrusted input: anything that is not the
message it expects next ends the run in progress as a protocol violation, never the harness.

Before each run the worker writes `RUN_MARKER` on stderr, in the same stream as everything the
run prints, so that the supervisor can cut the output into per-run logs exactly. This module
imports nothing but the standard library: the worker loads it before torch.
"""

from __future__ import annotations

import json
from typing import Any, Callable

# The per-sandbox settings file in the job folder (seeds, limits, visible paths), read before torch.
SESSION_FILE = "session.json"
# Where the supervisor releases runs: <job>/control/go-<k> (emptied for every sandbox).
CONTROL_DIR = "control"


def go_file_name(index: int) -> str:
    return f"go-{index}"

READY = "ready"
PREPARED = "prepared"
DONE = "done"
FINISHED = "finished"
FATAL = "fatal"

OK = "ok"
# Every way a run can fail (submissions/README.md documents which behaviour ends in which).
IMPORT_ERROR = "import_error"
MISSING_FUNCTION = "missing_function"
CONTRACT_ERROR = "contract_error"  # the function exists but cannot be called as unlearn(net, retain, forget, val)
EXCEPTION = "exception"
TIMEOUT = "timeout"
OUT_OF_MEMORY = "out_of_memory"
INVALID_MODEL = "invalid_model"
SANDBOX_VIOLATION = "sandbox_violation"
CRASHED = "crashed"
# Decided before any sandbox starts: the submission's files are refused (e.g. a link out of its folder).
INVALID_SUBMISSION = "invalid_submission"
FAILURE_KINDS = (
    IMPORT_ERROR,
    MISSING_FUNCTION,
    CONTRACT_ERROR,
    EXCEPTION,
    TIMEOUT,
    OUT_OF_MEMORY,
    INVALID_MODEL,
    SANDBOX_VIOLATION,
    CRASHED,
    INVALID_SUBMISSION,
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


class ProtocolViolation(ValueError):
    """A line on the protocol channel that is not the message expected (says what was wrong)."""


_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    READY: {},
    PREPARED: {"index": (int,)},
    DONE: {"index": (int,), "seed": (int,), "status": (str,), "message": (str, type(None))},
    FINISHED: {},
    FATAL: {"message": (str, type(None))},
}


def decode(line: bytes) -> dict[str, Any]:
    """The message on `line`, checked: a known event with fields of the right types.

    Raises ProtocolViolation for anything else, whatever the bytes (invalid UTF-8 or JSON, any
    nesting depth, unknown events, wrong types), so that no input can raise anything else.
    """
    try:
        message = json.loads(line)
    except RecursionError:
        raise ProtocolViolation("a message nested too deeply to read") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolViolation(f"a line that is not a JSON message ({type(error).__name__})") from None
    except Exception as error:  # the JSON parser must never be the way to stop the supervisor
        raise ProtocolViolation(f"an unreadable message ({type(error).__name__})") from None
    if not isinstance(message, dict):
        raise ProtocolViolation(f"a JSON {type(message).__name__} instead of a message object")
    event = message.get("event")
    if not isinstance(event, str) or event not in _FIELDS:
        raise ProtocolViolation(f"an unknown event {_preview(event)}")
    for name, kinds in _FIELDS[event].items():
        value = message.get(name)
        # bool is an int in Python, never a valid index or seed.
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ProtocolViolation(f"a {event!r} message whose {name!r} is {_preview(value)}")
    return message


def _preview(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


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
