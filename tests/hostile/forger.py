"""Forges the worker's completion message to make its first run look instantaneous.

On its first run it writes its weights itself where the worker would, announces the run as done
on the worker's protocol channel, and only then does its real work (a sleep). The supervisor must
accept the forged completion with exactly those weights (nothing done later can change them) and
charge the rest of the time to the next run, so that no second goes missing.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

SLEEP_SECONDS = 1.5
_forged = False


def _protocol_channels():
    """Every pipe this process holds besides stdout/stderr (which now lead to the log)."""
    log_pipe = os.readlink("/proc/self/fd/2")
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("pipe:") and target != log_pipe and int(name) > 2:
            yield int(name)


def unlearn(net, retain, forget, val):
    global _forged
    with torch.no_grad():
        next(net.parameters()).mul_(0.5)
    if not _forged:
        _forged = True
        out = Path(sys.argv[sys.argv.index("--out") + 1])
        save_file({key: value.contiguous() for key, value in net.state_dict().items()}, str(out / "run-00000.safetensors"))
        message = json.dumps({"event": "done", "index": 0, "status": "ok", "message": None}) + "\n"
        for descriptor in _protocol_channels():
            os.write(descriptor, message.encode())
        time.sleep(SLEEP_SECONDS)
    return net
