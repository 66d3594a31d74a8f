"""Control groups of a sandbox: a process limit that holds for root, memory, CPUs, CPU accounting.

RLIMIT_NPROC does not bind root (nor root mapped into a user namespace), so a fork bomb started by
a harness running as root would exhaust the host's process table. A pids cgroup contains it. We
create a child of the harness's own cgroup for each bwrap sandbox: under cgroup v2 when the pids
controller is available there, else under the v1 hierarchies (pids, memory, cpuset, cpu, cpuacct)
when their folders are writable. The sandbox joins the group before bwrap starts (see bwrap.py),
and the group is emptied (SIGKILL) and removed when the sandbox ends.

The same group gives the supervisor the sandbox's CPU time (every process and thread, user +
system: v2 cpu.stat, v1 cpuacct.usage), which is what a run is charged on a CPU, and binds the
sandbox to its cores (cpuset) or caps it at its threads' worth of CPU (a CFS quota). A Docker
container's groups are read the same way (`process_cgroups`).
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpuset", "cpu", "cpuacct")
CFS_PERIOD_US = 100_000
CGROUP_PREFIX = "unlearn-sandbox-"


@dataclass
class Cgroups:
    """The cgroup folders of one sandbox: controller -> folder (one shared folder under v2)."""

    version: int
    folders: dict[str, Path] = field(default_factory=dict)

    @property
    def procs_files(self) -> list[Path]:
        return sorted({folder / "cgroup.procs" for folder in self.folders.values()})

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this group so far."""
        folder = self.folders.get("memory")
        if folder is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (folder / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by every process of the group (user + system), None if not accounted."""
        try:
            if self.version == 2:
                folder = self.folders.get("pids") or next(iter(self.folders.values()))
                for line in (folder / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
                return None
            folder = self.folders.get("cpuacct")
            if folder is None:
                return None
            return int((folder / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError, StopIteration):
            return None

    def members(self) -> set[int]:
        pids: set[int] = set()
        for procs in self.procs_files:
            try:
                pids.update(int(line) for line in procs.read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    def kill_all(self) -> None:
        for folder in self.folders.values():
            kill_file = folder / "cgroup.kill"  # cgroup v2, Linux 5.14+
            if self.version == 2 and kill_file.exists():
                try:
                    kill_file.write_text("1")
                    return
                except OSError:
                    break
        # A pids limit stops the group from growing, so a few rounds of SIGKILL empty it.
        for _ in range(50):
            members = self.members()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self, timeout: float = 10.0) -> None:
        """Kill what is left and remove the folders (a dying process keeps a folder busy briefly)."""
        self.kill_all()
        deadline = time.monotonic() + timeout
        for folder in sorted(set(self.folders.values()), reverse=True):
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    self.kill_all()
                    time.sleep(0.05)


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, super options) of every cgroup mount."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        parts, rest = before.split(), after.split()
        if len(parts) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            found.append((parts[4].replace("\\040", " "), rest[0], set(rest[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _owner_prefix() -> str:
    """The name prefix of this host's groups (other hosts or containers may share the hierarchy)."""
    return f"{CGROUP_PREFIX}{zlib.crc32(socket.gethostname().encode()):08x}-"


def _remove_stale(parent: Path, version: int) -> None:
    """Remove groups left by supervisors that died (their sandboxes died with them: --die-with-parent)."""
    prefix = _owner_prefix()
    try:
        children = [child for child in parent.iterdir() if child.name.startswith(prefix)]
    except OSError:
        return
    for child in children:
        pid = child.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            Cgroups(version, {"stale": child}).remove(timeout=1.0)


def _try_v2(name: str, own: dict[str, str], mounts) -> Cgroups | None:
    for mount_point, kind, _ in mounts:
        if kind != "cgroup2" or "" not in own:
            continue
        parent = Path(mount_point) / own[""].lstrip("/")
        try:
            available = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if "pids" not in available:
            continue
        _remove_stale(parent, 2)
        folder = parent / name
        try:
            folder.mkdir()
        except OSError:
            continue
        return Cgroups(2, {controller: folder for controller in CONTROLLERS if controller in available})
    return None


def _try_v1(name: str, own: dict[str, str], mounts) -> Cgroups | None:
    groups = Cgroups(1)
    for controller in CONTROLLERS:
        for mount_point, kind, options in mounts:
            if kind != "cgroup" or controller not in options or controller not in own:
                continue
            parent = Path(mount_point) / own[controller].lstrip("/")
            folder = parent / name
            if folder in groups.folders.values():  # co-mounted with a controller done already (cpu,cpuacct)
                groups.folders[controller] = folder
                break
            _remove_stale(parent, 1)
            try:
                folder.mkdir()
            except OSError:
                continue
            groups.folders[controller] = folder
            break
    if "pids" not in groups.folders:
        groups.remove()
        return None
    return groups


def create_cgroups(*, max_processes: int, memory_bytes: int | None, cpus: str | None, cpu_quota: float | None = None) -> Cgroups | None:
    """A fresh cgroup with these limits, or None when no pids controller is writable here.

    `cpus` binds the group to those cores (a cpuset list such as "0-1"); `cpu_quota` caps it at
    that many cores' worth of CPU time (a CFS quota), for when no cpuset can be written.
    """
    # Named after the supervisor's process: whose group it is, and whether that owner is gone.
    name = f"{_owner_prefix()}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        own, mounts = _own_paths(), _mounts()
    except OSError:
        return None
    groups = _try_v2(name, own, mounts) or _try_v1(name, own, mounts)
    if groups is None:
        return None
    try:
        _write(groups.folders["pids"] / "pids.max", str(max_processes))
        _configure_memory(groups, memory_bytes)
        _configure_cpuset(groups, cpus)
        _configure_quota(groups, cpu_quota)
    except BaseException:
        groups.remove()
        raise
    return groups


def _drop(groups: Cgroups, controller: str) -> None:
    """Leave a controller out (its v1 folder is removed; a v2 folder is shared by all)."""
    folder = groups.folders.pop(controller)
    if groups.version == 1:
        folder.rmdir()


def _configure_memory(groups: Cgroups, memory_bytes: int | None) -> None:
    folder = groups.folders.get("memory")
    if folder is None:
        return
    if memory_bytes is None:
        _drop(groups, "memory")
        return
    try:
        if groups.version == 2:
            _write(folder / "memory.max", str(memory_bytes))
            if (folder / "memory.swap.max").exists():
                _write(folder / "memory.swap.max", "0")
        else:
            _write(folder / "memory.limit_in_bytes", str(memory_bytes))
            if (folder / "memory.memsw.limit_in_bytes").exists():
                _write(folder / "memory.memsw.limit_in_bytes", str(memory_bytes))
    except OSError:
        _drop(groups, "memory")  # left unlimited: RLIMIT_DATA still applies


def _configure_cpuset(groups: Cgroups, cpus: str | None) -> None:
    folder = groups.folders.get("cpuset")
    if folder is None:
        return
    if cpus is None:
        if groups.version == 1:
            # A v1 cpuset group without cpus and mems cannot hold a process: leave the controller out.
            _drop(groups, "cpuset")
        return
    try:
        if groups.version == 1:
            _write(folder / "cpuset.mems", (folder.parent / "cpuset.mems").read_text().strip())
        _write(folder / "cpuset.cpus", cpus)
    except OSError:
        _drop(groups, "cpuset")  # the quota below still bounds the sandbox's share of the CPUs


def _configure_quota(groups: Cgroups, cores: float | None) -> None:
    folder = groups.folders.get("cpu")
    if folder is None or cores is None:
        return
    quota = max(1000, int(cores * CFS_PERIOD_US))
    try:
        if groups.version == 2:
            _write(folder / "cpu.max", f"{quota} {CFS_PERIOD_US}")
        else:
            _write(folder / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(folder / "cpu.cfs_quota_us", str(quota))
    except OSError:
        pass  # no quota here; the cpuset (when set) still binds the sandbox


def binding(groups: Cgroups | None) -> tuple[bool, bool]:
    """(bound to a cpuset, capped by a CPU quota) for a created group."""
    if groups is None:
        return False, False
    cpuset = "cpuset" in groups.folders and (
        groups.version == 1 or _readable(groups.folders["cpuset"] / "cpuset.cpus")
    )
    quota_file = "cpu.max" if groups.version == 2 else "cpu.cfs_quota_us"
    folder = groups.folders.get("cpu")
    quota = folder is not None and _readable(folder / quota_file) not in (None, "max", "-1")
    return cpuset, quota


def _readable(path: Path) -> str | None:
    try:
        return path.read_text().split()[0]
    except (OSError, IndexError):
        return None


def process_cgroups(pid: int) -> Cgroups | None:
    """The existing groups of process `pid` (read-only use: CPU time, OOM kills), or None."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        mounts = _mounts()
    except OSError:
        return None
    paths: dict[str, str] = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    if "cpuacct" in paths:  # v1
        groups = Cgroups(1)
        for controller in ("cpuacct", "memory", "pids"):
            for mount_point, kind, options in mounts:
                if kind == "cgroup" and controller in options and controller in paths:
                    folder = Path(mount_point) / paths[controller].lstrip("/")
                    if folder.is_dir():
                        groups.folders[controller] = folder
                    break
        return groups if "cpuacct" in groups.folders else None
    for mount_point, kind, _ in mounts:
        if kind == "cgroup2" and "" in paths:
            folder = Path(mount_point) / paths[""].lstrip("/")
            if folder.is_dir():
                return Cgroups(2, {"pids": folder, "memory": folder})
    return None
