"""A hostile submission whose misbehaviour ends the sandbox: the supervisor must stop it.

Only a run that overstays its time limit costs the sandbox (the supervisor kills it and starts a
new one for the next seed); everything else a run can do ends with its own process (../contained).

As in ../contained, `plan.json` beside this file maps each seed to a behaviour.
"""

import json
import os
import time
from pathlib import Path

import torch

PLAN = json.loads((Path(__file__).parent / "plan.json").read_text())


def in_place(net, retain):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for images, labels in retain:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()


def infinite_loop(net, retain):
    while True:
        pass


def sleep_past_budget(net, retain):
    time.sleep(3600)


def freeze_clocks_then_sleep(net, retain):
    """Stop every clock this process can reach, try to set the system clock, then overstay."""
    frozen = time.time()
    for name in ("time", "monotonic", "perf_counter", "process_time"):
        setattr(time, name, lambda frozen=frozen: frozen)
    for name in ("time_ns", "monotonic_ns", "perf_counter_ns"):
        setattr(time, name, lambda frozen=frozen: int(frozen * 1e9))
    try:
        time.clock_settime(time.CLOCK_REALTIME, 0.0)
    except PermissionError:
        pass
    time.sleep(3600)  # the process's clocks read the same forever; the supervisor's do not


BEHAVIOURS = {function.__name__: function for function in [
    in_place, infinite_loop, sleep_past_budget, freeze_clocks_then_sleep,
]}


def unlearn(net, retain, forget, val):
    return BEHAVIOURS[PLAN["behaviours"][os.environ["UNLEARN_SEED"]]](net, retain)
