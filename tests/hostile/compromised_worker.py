"""A worker that has gone bad: it starts like the real one, then sends what the test asks for.

A run process cannot write on the protocol channel (the worker's, alone), so the only way hostile
bytes reach the supervisor is a worker that misbehaves. The test binds a copy of the harness
whose `harness.sandbox.worker` is this file into a real sandbox; `attack.txt` in the submission
folder names the attack. Whatever it sends, the supervisor must end the run with a classified
violation, never crash.
"""

import json
import os
import sys
import time
from pathlib import Path

from harness.sandbox import process_control, protocol


def send(channel: int, data: bytes) -> None:
    while data:
        data = data[os.write(channel, data):]


def done(index: int, seed: int, **fields) -> bytes:
    message = {"event": "done", "index": index, "seed": seed, "status": "ok", "message": None}
    return json.dumps({**message, **fields}).encode() + b"\n"


ATTACKS = {
    "deep_nesting": lambda index, seed: b"[" * 30_000 + b"]" * 30_000 + b"\n",  # within the line limit
    "status_is_a_list": lambda index, seed: done(index, seed, status=["ok"]),
    "index_is_a_bool": lambda index, seed: done(True, seed),
    "unknown_status": lambda index, seed: done(index, seed, status="perfect"),
    "wrong_run": lambda index, seed: done(index + 5, seed),
    "invalid_utf8": lambda index, seed: b"\xff\xfe\xfd garbage\n",
    "overlong_line": lambda index, seed: b'{"event": "done", "message": "' + b"x" * (protocol.MAX_LINE_BYTES + 10) + b'"}\n',
    "flood": lambda index, seed: protocol.encode(protocol.PREPARED, index=index) * 200_000,
}


def main() -> None:
    job = Path(sys.argv[sys.argv.index("--job") + 1])
    process_control.protect_worker()
    channel = os.dup(1)
    os.dup2(2, 1)
    session = json.loads((job / protocol.SESSION_FILE).read_text())
    attack = (job / "submission" / "attack.txt").read_text().strip()
    send(channel, protocol.encode(protocol.READY))
    send(channel, protocol.encode(protocol.PREPARED, index=0))
    while not (job / protocol.CONTROL_DIR / protocol.go_file_name(0)).exists():
        time.sleep(0.001)
    seed = int(session["seeds"][0])
    if attack == "work_after_last_run":
        send(channel, protocol.encode(protocol.DONE, index=0, seed=seed, status="crashed", message="pretend"))
        send(channel, protocol.encode(protocol.FINISHED))
        while True:  # keep the sandbox busy after its last run
            pass
    send(channel, ATTACKS[attack](0, seed))
    time.sleep(60)  # the supervisor must stop the sandbox long before this
    os._exit(0)
