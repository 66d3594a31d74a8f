"""A hostile submission whose misbehaviour ends the sandbox: the supervisor must stop or bury it.

As in ../contained, `plan.json` beside this file maps each seed to a behaviour.
"""

import json
import mmap
import os
import sys
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


def exit_the_process(net, retain):
    os._exit(3)


def shared_memory_hog(net, retain):
    """Anonymous shared memory escapes RLIMIT_DATA; only the memory cgroup stops it."""
    size = 16 * 1024**3
    # MAP_POPULATE makes the kernel fault every page in at once: the cgroup's limit is hit in a blink.
    region = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
    block = b"\1" * (64 * 1024**2)
    for _ in range(size // len(block)):
        region.write(block)


def flood_output_folder(net, retain):
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    block = os.urandom(1024**2)
    for number in range(100_000):
        (out / f"junk-{number}").write_bytes(block)
        time.sleep(0.01)


BEHAVIOURS = {function.__name__: function for function in [
    in_place, infinite_loop, sleep_past_budget, freeze_clocks_then_sleep, exit_the_process, shared_memory_hog,
    flood_output_folder,
]}


def unlearn(net, retain, forget, val):
    return BEHAVIOURS[PLAN["behaviours"][os.environ["UNLEARN_SEED"]]](net, retain)
