"""A hostile submission whose misbehaviour the sandbox contains without losing the worker.

Which behaviour a run shows depends on its seed: `plan.json` (written beside this file by the
test) maps seeds to behaviour names and lists host paths to aim at. Every attempt to get out is
made for real; an attempt that unexpectedly succeeds raises `SandboxLeak`, which the harness
classifies as an ordinary `exception`, so the test fails loudly instead of passing by accident.
"""

import json
import os
import pickle
import signal
import socket
import sys
import time
from pathlib import Path

import torch

PLAN = json.loads((Path(__file__).parent / "plan.json").read_text())
TARGETS = PLAN["targets"]


class SandboxLeak(AssertionError):
    pass


def every_attempt_fails(attempts):
    """Run each (description, action); re-raise the first error, or report a leak if one succeeded."""
    errors = []
    for description, action in attempts:
        try:
            action()
        except OSError as error:
            errors.append(error)
        else:
            raise SandboxLeak(f"the sandbox allowed: {description}")
    raise errors[0]


def job_dir():
    return Path(sys.argv[sys.argv.index("--job") + 1])


# --- behaviours ------------------------------------------------------------------------------
def in_place(net, retain):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for images, labels in retain:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()
    return None


def network_connect(net, retain):
    every_attempt_fails([
        ("a TCP connection to 1.1.1.1:80", lambda: socket.create_connection(("1.1.1.1", 80), timeout=5)),
        ("a TCP connection to localhost", lambda: socket.create_connection(("127.0.0.1", 22), timeout=5)),
    ])


def network_dns(net, retain):
    socket.getaddrinfo("pypi.org", 443)
    raise SandboxLeak("the sandbox resolved pypi.org")


def read_pool_cache(net, retain):
    every_attempt_fails([
        (f"reading {TARGETS['pool_file']}", lambda: open(TARGETS["pool_file"], "rb").read()),
        (f"listing {TARGETS['pool_dir']}", lambda: os.listdir(TARGETS["pool_dir"])),
    ])


def read_test_data(net, retain):
    import importlib.util

    bundled = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data" / "digits.csv.gz"
    every_attempt_fails([
        (f"reading scikit-learn's digits data {bundled}", lambda: bundled.read_bytes()),
        (f"reading {TARGETS['manifests_dir']}", lambda: os.listdir(TARGETS["manifests_dir"])),
    ])


def read_other_users_files(net, retain):
    every_attempt_fails([
        ("listing /root/.ssh", lambda: os.listdir("/root/.ssh")),
        ("reading /etc/shadow", lambda: open("/etc/shadow").read()),
        ("reading /root/.bashrc", lambda: open("/root/.bashrc").read()),
        (f"reaching the Docker socket {TARGETS['docker_socket']}", lambda: os.stat(TARGETS["docker_socket"])),
        ("reaching /var/run/docker.sock", lambda: os.stat("/var/run/docker.sock")),
    ])


def write_outside(net, retain):
    harness_dir = Path(sys.modules["harness"].__file__).parent
    every_attempt_fails([
        (f"writing {TARGETS['escape_file']}", lambda: open(TARGETS["escape_file"], "w").write("escaped")),
        ("writing /usr/escaped", lambda: open("/usr/escaped", "w").write("escaped")),
        ("writing /escaped", lambda: open("/escaped", "w").write("escaped")),
        (f"writing into the harness package {harness_dir}", lambda: open(harness_dir / "escaped.py", "w").write("x")),
    ])


def overwrite_inputs(net, retain):
    folder = job_dir()
    every_attempt_fails([
        ("overwriting the original weights", lambda: open(folder / "original.safetensors", "r+b").write(b"\0" * 64)),
        ("deleting the data", lambda: os.remove(folder / "data.safetensors")),
        ("replacing job.json", lambda: os.replace(folder / "ids.json", folder / "job.json")),
    ])


def fork_bomb(net, retain):
    while True:
        os.fork()


def allocate_memory(net, retain):
    hoard = [torch.ones(256 * 1024**2) for _ in range(64)]  # 64 GiB, one GiB at a time
    raise SandboxLeak(f"the sandbox allowed {len(hoard)} GiB")


def raise_error(net, retain):
    raise ValueError("deliberate failure inside unlearn")


def call_sys_exit(net, retain):
    sys.exit(3)


def kill_parent(net, retain):
    os.kill(os.getppid(), signal.SIGKILL)  # PID 1 of the sandbox's namespace: the signal is dropped
    time.sleep(0.5)
    return in_place(net, retain)


def print_gigabytes(net, retain):
    chunk = (b"x" * 1023 + b"\n") * 1024
    for _ in range(1024):  # 1 GiB
        os.write(1, chunk)
    return in_place(net, retain)


def wrong_architecture(net, retain):
    return torch.nn.Linear(64, 10)


def nan_weights(net, retain):
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    return net


def not_a_module(net, retain):
    return {"weights": net.state_dict()}


class RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (os.system, (f"touch {TARGETS['pickle_marker']}",))


def pickle_instead_of_weights(net, retain):
    """Replace the worker's writer so that a pickle lands where the weights go."""
    worker = sys.modules["harness.sandbox.worker"]
    original = worker.save_weights

    def write_pickle(model, path):
        worker.save_weights = original
        Path(path).write_bytes(pickle.dumps({"conv.weight": RunsCodeWhenUnpickled()}))

    worker.save_weights = write_pickle
    return net


BEHAVIOURS = {function.__name__: function for function in [
    in_place, network_connect, network_dns, read_pool_cache, read_test_data, read_other_users_files, write_outside,
    overwrite_inputs, fork_bomb, allocate_memory, raise_error, call_sys_exit, kill_parent, print_gigabytes,
    wrong_architecture, nan_weights, not_a_module, pickle_instead_of_weights,
]}


def unlearn(net, retain, forget, val):
    behaviour = PLAN["behaviours"][os.environ["UNLEARN_SEED"]]
    return BEHAVIOURS[behaviour](net, retain)
