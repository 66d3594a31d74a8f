"""The bubblewrap sandbox: Linux namespaces and read-only binds around one worker process.

The worker runs in new user, PID, network, IPC, UTS and cgroup namespaces as an unprivileged
user (uid 65534 with no capabilities; creating further user namespaces is disabled), on a fresh
root that holds only the binds listed in harness.sandbox.layout; the root, /dev and every bind but
/out are read-only. `--die-with-parent` ties the sandbox's life to the supervisor.

Processes: RLIMIT_NPROC does not bind root, not even mapped into a user namespace, so when the
harness runs as root the sandbox joins a fresh pids cgroup (with memory and cpuset limits where
those controllers are writable) before bwrap starts; without a writable pids cgroup a root
harness refuses to use bwrap rather than let a fork bomb loose. A non-root harness falls back to
RLIMIT_NPROC, which counts all processes of the user.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.sandbox.backends.base import ExitStatus, LaunchSpec, SubprocessSandbox
from harness.sandbox.backends.cgroups import Cgroups, create_cgroups
from harness.sandbox.layout import (
    SANDBOX_GID,
    SANDBOX_HARNESS_ROOT,
    SANDBOX_JOB,
    SANDBOX_OUT,
    SANDBOX_TMP,
    SANDBOX_UID,
    etc_files,
    harness_package_dir,
    masked_paths,
    passwd_files,
    python_prefixes,
    sandbox_environment,
    system_entries,
    visible_roots,
    worker_command,
)

SHM_BYTES = 64 * 1024 * 1024
# Joins the cgroups listed in $UNLEARN_CGROUP_PROCS, then becomes bwrap: every process of the
# sandbox starts inside the limits.
_JOIN_CGROUPS = 'for f in $UNLEARN_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; exec "$@"'


@functools.lru_cache(maxsize=None)
def bwrap_problem() -> str | None:
    """None when bwrap can build this sandbox here, else why not (cached per process)."""
    executable = shutil.which("bwrap")
    if executable is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [executable, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--disable-userns",
             "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap does not run here ({error})"
    if result.returncode != 0:
        return (f"bwrap cannot create namespaces here ({result.stderr.strip() or 'exit code %d' % result.returncode}); "
                "unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1)")
    return None


def gpu_device_nodes() -> list[str]:
    return sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/dri"))


class BwrapSandbox(SubprocessSandbox):
    name = "bwrap"
    isolated = True

    def __init__(self, limits):
        super().__init__(limits)
        self._cgroups: Cgroups | None = None

    def visible_roots(self, spec: LaunchSpec) -> list[str]:
        return visible_roots(["/sys"] if spec.gpu_index is not None else [])

    def hidden_roots(self, spec: LaunchSpec) -> list[str]:
        return [str(path) for path in masked_paths()]

    def rlimits(self, spec: LaunchSpec) -> dict[str, int]:
        limits = super().rlimits(spec)
        if self._cgroups is None and os.geteuid() != 0:
            limits["nproc"] = spec.limits.max_processes + _processes_of_this_user()
        return limits

    def prepare(self, spec: LaunchSpec) -> None:
        """Create the session's cgroups (called before the worker's rlimits are decided)."""
        problem = bwrap_problem()
        if problem:
            raise HarnessError(f"--sandbox bwrap: {problem}")
        self._cgroups = create_cgroups(
            max_processes=spec.limits.max_processes,
            memory_bytes=spec.limits.cgroup_memory_bytes,
            cpus=spec.limits.cpus,
        )
        if self._cgroups is None and os.geteuid() == 0:
            raise HarnessError(
                "--sandbox bwrap as root needs a writable pids cgroup (under /sys/fs/cgroup) to contain fork "
                "bombs, and none is writable here; run the harness as an unprivileged user, give it a cgroup "
                "(cgroup v2 delegation), or use --sandbox docker"
            )

    def command(self, spec: LaunchSpec) -> tuple[list[str], dict[str, str], Path]:
        etc = passwd_files(spec.scratch_dir / "etc")
        python = sys.executable
        args = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
                "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        for entry in system_entries():
            if entry.link_target is not None:
                args += ["--symlink", entry.link_target, entry.name]
            else:
                args += ["--ro-bind", entry.name, entry.name]
        for prefix in python_prefixes():
            args += ["--ro-bind", str(prefix), str(prefix)]
        for masked in masked_paths():
            args += ["--perms", "0555", "--size", "4096", "--tmpfs", str(masked), "--remount-ro", str(masked)]
        for path in etc_files():
            args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", str(etc / "passwd"), "/etc/passwd", "--ro-bind", str(etc / "group"), "/etc/group"]
        args += ["--ro-bind", str(harness_package_dir()), f"{SANDBOX_HARNESS_ROOT}/harness"]
        args += ["--ro-bind", str(spec.job_dir), SANDBOX_JOB, "--bind", str(spec.out_dir), SANDBOX_OUT]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
        args += ["--perms", "1777", "--size", str(spec.limits.tmp_bytes), "--tmpfs", SANDBOX_TMP]
        if spec.gpu_index is not None:
            for node in gpu_device_nodes():
                args += ["--dev-bind", node, node]
            args += ["--ro-bind", "/sys", "/sys"]
        environment = sandbox_environment(
            home=SANDBOX_TMP,
            torch_threads=spec.torch_threads,
            gpu_visible=None if spec.gpu_index is None else str(spec.gpu_index),
            python_bin=str(Path(python).parent),
        )
        args += ["--clearenv"]
        for key, value in environment.items():
            args += ["--setenv", key, value]
        args += ["--chdir", SANDBOX_TMP, "--remount-ro", "/dev", "--remount-ro", "/", "--"]
        args += worker_command(python, SANDBOX_HARNESS_ROOT, SANDBOX_JOB, SANDBOX_OUT)
        procs = " ".join(str(path) for path in self._cgroups.procs_files) if self._cgroups else ""
        launcher = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "UNLEARN_CGROUP_PROCS": procs}
        return ["/bin/sh", "-c", _JOIN_CGROUPS, "sh", *args], launcher, spec.scratch_dir

    def exit_status(self) -> ExitStatus:
        oom = self._cgroups is not None and self._cgroups.oom_kills() > 0
        return ExitStatus(self._returncode, oom_killed=oom)

    def kill(self) -> None:
        super().kill()
        if self._cgroups is not None:
            self._cgroups.kill_all()

    def close(self) -> None:
        super().close()
        if self._cgroups is not None:
            self._cgroups.remove()
            self._cgroups = None


def _processes_of_this_user() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count
