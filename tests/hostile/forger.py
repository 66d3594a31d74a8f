"""Forges the worker's completion message to make its runs look instantaneous.

Each run writes its weights itself where the worker would, announces the run as done on every
pipe it holds (hoping one is the worker's protocol channel), and only then does its real work (a
sleep). A run process never holds the channel, so the forgery must change nothing: every run is
charged its whole time.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

SLEEP_SECONDS = 1.5


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
    with torch.no_grad():
        next(net.parameters()).mul_(0.5)
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    index = int(os.environ["UNLEARN_SEED"])  # the test's seeds are the run positions
    save_file({key: value.contiguous() for key, value in net.state_dict().items()}, str(out / f"run-{index:05d}.safetensors"))
    message = json.dumps({"event": "done", "index": index, "seed": index, "status": "ok", "message": None}) + "\n"
    for descriptor in _protocol_channels():
        try:
            os.write(descriptor, message.encode())
        except OSError:
            pass
    time.sleep(SLEEP_SECONDS)
    return net
