"""A hostile submission whose misbehaviour the sandbox contains without losing the worker.

Every run is a fresh process that the worker ends, with everything it started, before the next
one: so everything here, short of overstaying the time limit (../fatal), ends at worst its own run.

Which behaviour a run shows depends on its seed: `plan.json` (written beside this file by the
test) maps seeds to behaviour names and lists host paths to aim at. Every attempt to get out is
made for real; an attempt that unexpectedly succeeds raises `SandboxLeak`, which the harness
classifies as an ordinary `exception`, so the test fails loudly instead of passing by accident.
"""

import ctypes
import json
import mmap
import os
import pickle
import platform
import signal
import socket
import sys
import threading
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
    """Replace the run's writer so that a pickle lands where the weights go."""
    run_process = sys.modules["harness.sandbox.run_process"]

    def write_pickle(model, path, **options):
        Path(path).write_bytes(pickle.dumps({"conv.weight": RunsCodeWhenUnpickled()}))

    run_process.save_weights = write_pickle  # this run's process only: the next run is a fresh one
    return net


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


def out_folder():
    return Path(sys.argv[sys.argv.index("--out") + 1])


def hide_output_in_unlinked_file(net, retain):
    """A file unlinked while open has no name to find, but its blocks still count."""
    path = out_folder() / "hidden"
    with open(path, "wb") as handle:
        os.unlink(path)
        block = os.urandom(1024**2)
        for _ in range(100_000):
            handle.write(block)
            handle.flush()


def hide_output_too_deep(net, retain):
    """A path longer than PATH_MAX, built one folder at a time, cannot be stat'ed by name."""
    folder = os.open(out_folder(), os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(40):
        os.mkdir("d" * 200, dir_fd=folder)
        folder = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
    descriptor = os.open("deep", os.O_WRONLY | os.O_CREAT, dir_fd=folder)
    block = os.urandom(1024**2)
    for _ in range(100_000):
        os.write(descriptor, block)


KEYCTL_NUMBERS = {"x86_64": (248, 250), "aarch64": (217, 219)}  # add_key, keyctl
KEY_SPEC_SESSION_KEYRING = -3


def add_key_to_session_keyring():
    add_key, _ = KEYCTL_NUMBERS[platform.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    key = libc.syscall(add_key, b"user", b"unlearn-carry", b"state", 5, KEY_SPEC_SESSION_KEYRING)
    if key >= 0:
        raise SandboxLeak("the sandbox let a run add a key to the kernel's session keyring")
    number = ctypes.get_errno()
    raise OSError(number, os.strerror(number))


CARRIED_FILES = ["/tmp/carry", "/dev/shm/carry", "/kaggle/tmp/carry", "/kaggle/working/carry"]


def leave_state_behind(net, retain):
    """Everything a run could leave for the next one: files, a thread, a process, a key, output."""
    for path in CARRIED_FILES:
        Path(path).write_text("state from an earlier run")
    (out_folder() / "carry").write_text("state from an earlier run")
    threading.Thread(target=time.sleep, args=(3600,)).start()
    if os.fork() == 0:  # a daemon: double fork, its own session, then it waits for the next run
        os.setsid()
        if os.fork() == 0:
            while True:
                Path("/tmp/heartbeat").write_text(str(time.monotonic()))
                time.sleep(0.01)
        os._exit(0)
    try:
        add_key_to_session_keyring()
    except OSError:
        pass  # refused, as it must be
    return in_place(net, retain)


def find_state_left_behind(net, retain):
    """The run after: none of it may be there."""
    found = [path for path in CARRIED_FILES + ["/tmp/heartbeat"] if os.path.exists(path)]
    found += [f"{entry} in the output folder" for entry in os.listdir(out_folder())]
    others = [name for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, os.getpid())]
    found += [f"process {pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:60]!r}" for pid in others]
    found += [f"{threading.active_count() - 1} other thread(s)"] if threading.active_count() > 1 else []
    if found:
        raise SandboxLeak(f"state of an earlier run survived into this one: {found}")
    return in_place(net, retain)


def rewrite_weights_after_return(net, retain):
    """A daemon that rewrites this run's weights once the run's own process has ended, logging
    each version it wrote: the weights the harness keeps must be the last ones written."""
    from safetensors.torch import save_file

    in_place(net, retain)
    weights = out_folder() / f"run-{int(os.environ['UNLEARN_SEED']):05d}.safetensors"
    state = {key: value.detach().clone().contiguous() for key, value in net.state_dict().items()}
    run_process = os.getpid()
    if os.fork() == 0:
        os.setsid()
        while os.getppid() == run_process:  # until the run's process is gone
            time.sleep(0.0005)
        for version in range(1, 1_000_000):
            state["fc.bias"].fill_(float(version))
            save_file(state, str(weights) + ".tmp")
            os.replace(str(weights) + ".tmp", weights)
            os.write(2, f"daemon wrote version {version}\n".encode())
    return net


def escape_to_the_worker(net, retain):
    """Reach the worker that reports on this run: stop it, write to its channel, read its memory, trace it."""
    os.kill(1, signal.SIGSTOP)  # PID 1 of the namespace: the kernel drops the signal
    time.sleep(0.1)
    if Path("/proc/1/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
        raise SandboxLeak("the run stopped the worker")
    libc = ctypes.CDLL(None, use_errno=True)

    def trace_the_worker():
        PTRACE_ATTACH = 16
        if libc.ptrace(PTRACE_ATTACH, 1, None, None) == 0:
            return
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))

    every_attempt_fails([
        *[(f"writing to the worker's descriptor {number}", lambda number=number: open(f"/proc/1/fd/{number}", "wb").write(b'{"event": "finished"}\n'))
          for number in range(8)],
        ("reading the worker's memory", lambda: open("/proc/1/mem", "rb").read(1)),
        ("reading the worker's environment", lambda: open("/proc/1/environ", "rb").read()),
        ("tracing the worker", trace_the_worker),
    ])


# x86_64 / aarch64 numbers of calls both Docker's default profile and the bwrap filter refuse. (Docker
# allows ptrace itself, of a run's own processes only; tracing the worker: escape_to_the_worker.)
FORBIDDEN_CALLS = {
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282), "io_uring_setup": (425, 425),
    "unshare": (272, 97), "mount": (165, 40), "keyctl": (250, 219), "setns": (308, 268),
}


def forbidden_system_calls(net, retain):
    """Each call the seccomp filter refuses: none may succeed (EPERM, or EACCES/ENOSYS/EINVAL)."""
    column = 0 if platform.machine() == "x86_64" else 1
    libc = ctypes.CDLL(None, use_errno=True)

    def attempt(number):
        def call():
            if libc.syscall(number, 0, 0, 0, 0, 0) >= 0:
                return
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        return call

    every_attempt_fails([(name, attempt(numbers[column])) for name, numbers in FORBIDDEN_CALLS.items()])


def busy_every_core(net, retain):
    """Busy-loop on every core of the machine for a second: the sandbox may use only its own."""
    allowed = os.sched_getaffinity(0)
    if len(allowed) > int(os.environ.get("OMP_NUM_THREADS", "1")):
        raise SandboxLeak(f"the sandbox may run on {len(allowed)} cores: {sorted(allowed)}")
    children = []
    for _ in range(os.cpu_count() or 2):
        pid = os.fork()
        if pid == 0:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                pass
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return in_place(net, retain)


BEHAVIOURS = {function.__name__: function for function in [
    in_place, network_connect, network_dns, read_pool_cache, read_test_data, read_other_users_files, write_outside,
    overwrite_inputs, fork_bomb, allocate_memory, raise_error, call_sys_exit, kill_parent, print_gigabytes,
    wrong_architecture, nan_weights, not_a_module, pickle_instead_of_weights, exit_the_process, shared_memory_hog,
    flood_output_folder, hide_output_in_unlinked_file, hide_output_too_deep, escape_to_the_worker, leave_state_behind,
    find_state_left_behind, rewrite_weights_after_return, busy_every_core, forbidden_system_calls,
]}


def unlearn(net, retain, forget, val):
    behaviour = PLAN["behaviours"][os.environ["UNLEARN_SEED"]]
    return BEHAVIOURS[behaviour](net, retain)
