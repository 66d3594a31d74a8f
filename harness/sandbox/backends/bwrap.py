"""The bubblewrap sandbox: Linux namespaces, read-only binds and a seccomp filter around the worker.

The worker runs as PID 1 (`--as-pid-1`) of new user, PID, network, IPC, UTS and cgroup namespaces
as an unprivileged user (uid 65534 with no capabilities; creating further user namespaces is
disabled), on a fresh root that holds only the binds listed in harness.sandbox.layout; the root,
/dev and every bind are read-only. Writable are private, size-limited tmpfs folders (/tmp,
/dev/shm, /kaggle/tmp, /kaggle/working) and /out, which a root harness backs with a size-limited
tmpfs on the host (output_mount.py). A seccomp filter (seccomp.py) refuses what Docker's default
profile refuses, and the sandbox starts in a fresh session keyring (bwrap_launch.py).
`--die-with-parent` ties the sandbox's life to the supervisor.

Processes, memory, CPUs: RLIMIT_NPROC does not bind root, not even mapped into a user namespace,
so when the harness runs as root the sandbox joins a fresh pids cgroup (with memory, cpuset, CPU
quota and CPU accounting where those controllers are writable) before bwrap starts; without a
writable pids cgroup a root harness refuses to use bwrap rather than let a fork bomb loose. A
non-root harness falls back to RLIMIT_NPROC, which counts all processes of the user, and to
wall time for the runs (no cgroup accounts their CPU).
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
from harness.sandbox.backends import output_mount
from harness.sandbox.backends.base import ExitStatus, LaunchSpec, SubprocessSandbox
from harness.sandbox.backends.cgroups import Cgroups, binding, create_cgroups
from harness.sandbox.backends.seccomp import seccomp_program
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
    scratch_folders,
    system_entries,
    visible_roots,
    worker_command,
)

LAUNCHER = Path(__file__).with_name("bwrap_launch.py")


@functools.lru_cache(maxsize=None)
def bwrap_problem() -> str | None:
    """None when bwrap can build this sandbox here, else why not (cached per process)."""
    executable = shutil.which("bwrap")
    if executable is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [executable, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--disable-userns",
             "--as-pid-1", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--ro-bind", "/", "/", "--", "/bin/true"]
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
        self._mounted_output = False

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
            cpus=spec.cpus,
            cpu_quota=float(spec.torch_threads),
        )
        if self._cgroups is None and os.geteuid() == 0:
            raise HarnessError(
                "--sandbox bwrap as root needs a writable pids cgroup (under /sys/fs/cgroup) to contain fork "
                "bombs, and none is writable here; run the harness as an unprivileged user, give it a cgroup "
                "(cgroup v2 delegation), or use --sandbox docker"
            )
        (spec.scratch_dir / "seccomp.bpf").write_bytes(seccomp_program() or b"")

    def prepare_output(self, out_dir: Path) -> None:
        super().prepare_output(out_dir)
        limits = self.limits
        # Owned by the harness's own uid: that is what the sandbox's user is mapped to on the host.
        self.output_quota_problem = output_mount.mount_tmpfs(
            out_dir, size_bytes=limits.output_bytes, max_entries=limits.output_files, uid=os.getuid(), gid=os.getgid()
        )
        self._mounted_output = self.output_quota_problem is None

    def cpu_seconds(self) -> float | None:
        return self._cgroups.cpu_seconds() if self._cgroups is not None else None

    def cpu_accounting_problem(self) -> str | None:
        if self._cgroups is None:
            return "no cgroup could be created for this bwrap sandbox (the harness does not run as root)"
        if self._cgroups.cpu_seconds() is None:
            return "the bwrap sandbox's cgroup has no CPU accounting (no cpuacct or cgroup v2 cpu.stat)"
        return None

    def oom_kills(self) -> int:
        return self._cgroups.oom_kills() if self._cgroups is not None else 0

    def binding(self) -> str:
        cpuset, quota = binding(self._cgroups)
        parts = []
        if cpuset:
            parts.append(f"cores {self._cgroups.folders['cpuset'].joinpath('cpuset.cpus').read_text().strip()} (cpuset)")
        if quota:
            parts.append("a CPU quota of its threads")
        return " and ".join(parts) or "every CPU (no cpuset or CPU quota could be set)"

    def command(self, spec: LaunchSpec) -> tuple[list[str], dict[str, str], Path]:
        etc = passwd_files(spec.scratch_dir / "etc")
        python = sys.executable
        args = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--disable-userns", "--as-pid-1", "--uid", str(SANDBOX_UID),
                "--gid", str(SANDBOX_GID), "--hostname", "sandbox", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL"]
        for entry in system_entries():
            if entry.link_target is not None:
                args += ["--symlink", entry.link_target, entry.name]
            else:
                args += ["--ro-bind", entry.name, entry.name]
        # The private scratch folders first: a Python environment that lives under /tmp is bound
        # on top of them below, instead of being hidden by them.
        args += ["--proc", "/proc", "--dev", "/dev"]
        for folder, size in scratch_folders(spec.limits):
            args += ["--perms", "1777", "--size", str(size), "--tmpfs", folder]
        for prefix in python_prefixes():
            args += ["--ro-bind", str(prefix), str(prefix)]
        for masked in masked_paths():
            args += ["--perms", "0555", "--size", "4096", "--tmpfs", str(masked), "--remount-ro", str(masked)]
        for path in etc_files():
            args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", str(etc / "passwd"), "/etc/passwd", "--ro-bind", str(etc / "group"), "/etc/group"]
        args += ["--ro-bind", str(harness_package_dir()), f"{SANDBOX_HARNESS_ROOT}/harness"]
        args += ["--ro-bind", str(spec.job_dir), SANDBOX_JOB, "--bind", str(spec.out_dir), SANDBOX_OUT]
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
        seccomp = spec.scratch_dir / "seccomp.bpf"
        if seccomp.stat().st_size:
            args += ["--seccomp", "{seccomp_fd}"]
        args += ["--chdir", SANDBOX_TMP, "--remount-ro", "/dev", "--remount-ro", "/", "--"]
        args += worker_command(python, SANDBOX_HARNESS_ROOT, SANDBOX_JOB, SANDBOX_OUT)
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER)]
        for procs in self._cgroups.procs_files if self._cgroups else []:
            launcher += ["--cgroup-procs", str(procs)]
        if seccomp.stat().st_size:
            launcher += ["--seccomp", str(seccomp)]
        environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        return [*launcher, "--", *args], environment, spec.scratch_dir

    def exit_status(self) -> ExitStatus:
        return ExitStatus(self._returncode, oom_killed=self.oom_kills() > 0)

    def kill(self) -> None:
        super().kill()
        if self._cgroups is not None:
            self._cgroups.kill_all()

    def close(self) -> None:
        super().close()
        if self._cgroups is not None:
            self._cgroups.remove()
            self._cgroups = None
        if self._mounted_output and self.out_dir is not None:
            output_mount.unmount(self.out_dir)  # the sandbox's files go with it: nothing stays on disk
            self._mounted_output = False


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
