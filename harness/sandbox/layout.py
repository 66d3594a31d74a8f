"""What a real sandbox shows, and where: the same layout under bwrap and Docker.

Only what the worker needs is mounted, read-only unless stated:

    /usr, /lib*, /bin, /sbin     the host's system files (links kept as links on merged-/usr hosts)
    <python prefixes>            the running Python environment, at the same paths as on the host
    /opt/unlearn-harness/harness the harness package (the worker and harness.kit)
    /etc/passwd, /etc/group      a sandbox user only; /etc/ld.so.cache and a few files ld.so reads
    /job                         the job folder (original weights, data, submission)
    /out                         where the weights go: a size-limited file system per sandbox
    /tmp, /dev/shm,              private, size-limited tmpfs folders, emptied after every run
    /kaggle/tmp, /kaggle/working (the 2023 Kaggle notebooks' scratch folders)

Everything else is absent: the retrain pool cache, the test data, data_manifests/, /root and
/home, the Docker socket, other users' files. Inside a mounted tree, places that hold data a
participant must not see are masked with an empty tmpfs: scikit-learn's bundled datasets (the
digits TEST images ship with it).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import harness

SANDBOX_JOB = "/job"
SANDBOX_OUT = "/out"
SANDBOX_HARNESS_ROOT = "/opt/unlearn-harness"
SANDBOX_TMP = "/tmp"
SANDBOX_UID = 65534
SANDBOX_GID = 65534
SANDBOX_USER = "participant"
SHM_BYTES = 64 * 1024 * 1024
KAGGLE_FOLDERS = ("/kaggle/tmp", "/kaggle/working")

SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Read by the dynamic loader and the C library; harmless to show.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf")


@dataclass(frozen=True)
class SystemEntry:
    """A top-level system directory: bound as is, or re-created as the same link."""

    name: str  # "/lib64"
    link_target: str | None  # "usr/lib64" when the host has a link there


def harness_package_dir() -> Path:
    """The host folder of the `harness` package (mounted read-only in the sandbox)."""
    return Path(harness.__file__).resolve().parent


def system_entries() -> list[SystemEntry]:
    entries = []
    for name in SYSTEM_DIRS:
        path = Path("/") / name
        if path.is_symlink():
            entries.append(SystemEntry(str(path), os.readlink(path)))
        elif path.is_dir():
            entries.append(SystemEntry(str(path), None))
    return entries


def scratch_folders(limits) -> list[tuple[str, int]]:
    """(path, size in bytes) of every private writable tmpfs a sandbox gets besides /out."""
    return [(SANDBOX_TMP, limits.tmp_bytes), ("/dev/shm", SHM_BYTES)] + [(folder, limits.kaggle_bytes) for folder in KAGGLE_FOLDERS]


def python_prefixes() -> list[Path]:
    """The folders of the running Python environment (base install, venv, and any other
    site-packages folder on sys.path, e.g. added by a .pth file), outside /usr."""
    candidates = []
    for prefix in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(sys.executable))):
        candidates += [Path(prefix), Path(os.path.realpath(prefix))]
    for entry in sys.path:
        if Path(entry).name in ("site-packages", "dist-packages"):
            candidates += [Path(entry), Path(os.path.realpath(entry))]
    bound: list[Path] = []
    for path in candidates:
        if not path.is_dir() or any(_is_within(path, root) for root in [Path("/usr"), *bound]):
            continue
        bound = [root for root in bound if not _is_within(root, path)] + [path]
    return sorted(set(bound))


def etc_files() -> list[Path]:
    return [Path("/etc") / name for name in ETC_FILES if (Path("/etc") / name).exists()]


def masked_paths() -> list[Path]:
    """Folders inside mounted trees that must look empty: bundled datasets of installed packages."""
    masked = []
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin:
        for name in ("data", "images", "descr"):
            folder = Path(spec.origin).parent / "datasets" / name
            if folder.is_dir():
                masked.append(folder)
    return masked


def visible_roots(extra: list[str] | None = None) -> list[str]:
    """Every path a process inside the sandbox can see (for classifying a missing file)."""
    roots = [entry.name for entry in system_entries()]
    roots += [str(path) for path in python_prefixes()]
    roots += [str(path) for path in etc_files()] + ["/etc/passwd", "/etc/group"]
    roots += [SANDBOX_HARNESS_ROOT, SANDBOX_JOB, SANDBOX_OUT, SANDBOX_TMP, *KAGGLE_FOLDERS, "/dev", "/proc"]
    return roots + list(extra or [])


def passwd_texts(uid: int = SANDBOX_UID, gid: int = SANDBOX_GID) -> dict[str, str]:
    """The sandbox's /etc/passwd and /etc/group: only root and the sandbox user (as `uid`/`gid`)."""
    return {
        "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n{SANDBOX_USER}:x:{uid}:{gid}:{SANDBOX_USER}:/tmp:/usr/sbin/nologin\n",
        "group": f"root:x:0:\n{SANDBOX_USER}:x:{gid}:\n",
    }


def passwd_files(directory: Path) -> Path:
    """Write /etc/passwd and /etc/group naming only root and the sandbox user; return the folder."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in passwd_texts().items():
        (directory / name).write_text(text)
        os.chmod(directory / name, 0o644)
    return directory


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def worker_command(python: str, harness_root: str, job_dir: str, out_dir: str) -> list[str]:
    """The command that starts the worker: no user site, no bytecode, the harness first on sys.path."""
    bootstrap = f"import sys; sys.path.insert(0, {harness_root!r}); from harness.sandbox.worker import main; main()"
    return [python, "-s", "-B", "-c", bootstrap, "--job", job_dir, "--out", out_dir]


def sandbox_environment(*, home: str, torch_threads: int, gpu_visible: str | None, python_bin: str) -> dict[str, str]:
    """The worker's whole environment: nothing is inherited from the host (no tokens, no sockets)."""
    threads = str(torch_threads)
    environment = {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": SANDBOX_TMP if home == SANDBOX_TMP else home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "UNLEARN_HARNESS_PROGRESS": "0",
        "CUDA_VISIBLE_DEVICES": gpu_visible if gpu_visible is not None else "",
    }
    return environment
