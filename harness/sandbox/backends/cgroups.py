"""Control groups for the bwrap sandbox: a process limit that holds for root, and memory and CPUs.

RLIMIT_NPROC does not bind root (nor root mapped into a user namespace), so a fork bomb started by
a harness running as root would exhaust the host's process table. A pids cgroup contains it. We
create a child of the harness's own cgroup for each sandbox: under cgroup v2 when the pids
controller is available there, else under the v1 hierarchies (pids, memory, cpuset) when their
folders are writable. The sandbox joins the group before bwrap starts (see bwrap.py), and the
group is emptied (SIGKILL) and removed when the sandbox ends.
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

CONTROLLERS = ("pids", "memory", "cpuset")
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
            _remove_stale(parent, 1)
            folder = parent / name
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


def create_cgroups(*, max_processes: int, memory_bytes: int | None, cpus: str | None) -> Cgroups | None:
    """A fresh cgroup with these limits, or None when no pids controller is writable here."""
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
    if groups.version == 1:
        _write(folder / "cpuset.mems", (folder.parent / "cpuset.mems").read_text().strip())
    _write(folder / "cpuset.cpus", cpus)
