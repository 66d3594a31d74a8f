"""The Docker sandbox (the organizers' backend), driven through the Docker SDK for Python.

Each session is one container: no network, a read-only root, read-only binds of what the worker
needs (harness.sandbox.layout), a size-limited tmpfs volume for /out (where the weights go: one
volume per session, removed with it, read through the engine's archive API, never through a host
folder), size-limited tmpfs scratch folders (/tmp, /dev/shm, /kaggle/tmp, /kaggle/working), all capabilities dropped, no-new-privileges,
Docker's default seccomp profile, a fresh session keyring (runc's default), an unprivileged user,
memory (swap included), process limits, a cpuset and CPU quota, GPUs passed through when the job
has one, and optionally another runtime (runsc: gVisor). The worker is the container's PID 1.
Output is read through an attach stream (the logging driver is off, so nothing a submission
prints is stored by the engine). The container's CPU time comes from its cgroup when the engine
runs on this host, else from the engine's stats. The engine is found as the Docker CLI finds it
(DOCKER_HOST, else the default socket).

Images: by default a minimal local image (docker_image.py) with the host's Python environment
bound read-only. An image built from docker/Dockerfile (`limits.docker_image`) brings its own
Python, torch and CUDA instead; the harness package is still bound from the host, so the worker
always matches the supervisor.
"""

from __future__ import annotations

import os
import socket
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

from harness.errors import HarnessError
from harness.sandbox.backends.base import ExitStatus, LaunchSpec, Sandbox, StreamSinks
from harness.sandbox.backends.cgroups import Cgroups, process_cgroups
from harness.sandbox.backends.docker_engine import docker_client, docker_problem, sandbox_user  # noqa: F401 (docker_problem: the registry's)
from harness.sandbox.limits import IMAGE_ENV
from harness.sandbox.layout import (
    SANDBOX_HARNESS_ROOT,
    SANDBOX_JOB,
    SANDBOX_OUT,
    SANDBOX_TMP,
    etc_files,
    harness_package_dir,
    masked_paths,
    python_prefixes,
    sandbox_environment,
    scratch_folders,
    system_entries,
    visible_roots,
    worker_command,
)

LABEL = "unlearn-harness.sandbox"
IMAGE_PYTHON = "python3"  # on PATH in an image built from docker/Dockerfile
IMAGE_VISIBLE_ROOTS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt", "/var", "/sys", "/kaggle",
                       SANDBOX_JOB, SANDBOX_OUT, SANDBOX_TMP, "/dev", "/proc"]
# Go's os.FileMode type bits, as the archive API reports them: a weights file has none.
_FILE_TYPE_BITS = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)


class DockerSandbox(Sandbox):
    name = "docker"
    isolated = True

    def __init__(self, limits):
        super().__init__(limits)
        self._client = None
        self._container = None
        self._reader: threading.Thread | None = None
        self._status: dict | None = None
        self._cgroups: Cgroups | None = None
        self._stats_usable = True
        self._cpus: str | None = None
        self._volume: str | None = None
        self.output_quota_problem = None  # /out is a size-limited tmpfs volume for every session
        # The organizers point every evaluation at their image without a flag per command.
        self._image_name = limits.docker_image or os.environ.get(IMAGE_ENV) or None

    @property
    def _local_image(self) -> bool:
        return self._image_name is None

    def visible_roots(self, spec: LaunchSpec) -> list[str]:
        return visible_roots(["/sys"]) if self._local_image else list(IMAGE_VISIBLE_ROOTS)

    def hidden_roots(self, spec: LaunchSpec) -> list[str]:
        return [str(path) for path in masked_paths()] if self._local_image else []

    def prepare(self, spec: LaunchSpec) -> None:
        from harness.sandbox.backends.docker_image import ensure_local_image

        self._client = docker_client()
        self._image = ensure_local_image(self._client, *sandbox_user()) if self._local_image else self._image_name
        _remove_stale_containers(self._client)

    def prepare_output(self, out_dir: Path) -> None:
        """A fresh tmpfs volume for /out (out_dir on the host is not used)."""
        self.out_dir = out_dir
        uid, gid = sandbox_user()
        limits = self.limits
        options = f"size={limits.output_bytes},nr_inodes={limits.output_files + 1},mode=0700,uid={uid},gid={gid}"
        name = f"unlearn-out-{uuid.uuid4().hex[:12]}"
        self._client.volumes.create(name=name, driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": options},
                                    labels=_labels())
        self._volume = name

    def fetch_output(self, name: str, destination: Path, max_bytes: int) -> None:
        """Copy /out/<name> out of the running container through the archive API (a tar stream
        the engine writes), taking only a regular file of at most `max_bytes`."""
        import docker

        from harness.sandbox.validation import InvalidModel

        try:
            chunks, info = self._client.api.get_archive(self._container.id, f"{SANDBOX_OUT}/{name}")
        except docker.errors.NotFound:
            raise InvalidModel("no weights file was written") from None
        except docker.errors.DockerException as error:
            raise InvalidModel(f"the weights file cannot be fetched from the sandbox ({error})") from None
        if int(info.get("mode", 0)) & _FILE_TYPE_BITS or info.get("linkTarget"):
            raise InvalidModel("the weights file is not a regular file (a link, folder or special file)")
        if int(info.get("size", 0)) > max_bytes:
            raise InvalidModel(f"the weights file has {info.get('size')} bytes; a model of this architecture has at most {max_bytes}")
        _extract_single_file(chunks, destination, max_bytes)

    def cpu_seconds(self) -> float | None:
        if self._cgroups is not None:
            seconds = self._cgroups.cpu_seconds()
            if seconds is not None:
                return seconds
        if self._container is None or not self._stats_usable:
            return None
        try:  # an engine on another host: its own accounting, one sample without waiting
            stats = self._client.api.stats(self._container.id, stream=False, one_shot=True)
            return int(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9
        except Exception:
            self._stats_usable = False
            return None

    def cpu_accounting_problem(self) -> str | None:
        # The engine accounts every container's CPU time: its cgroup files on this host, else its
        # stats API. A run whose samples still fail is charged wall time, and says so.
        return None

    def oom_kills(self) -> int:
        kills = self._cgroups.oom_kills() if self._cgroups is not None else 0
        return kills or int(bool(self._status and self._status.get("OOMKilled")))

    def binding(self) -> str:
        return f"cores {self._cpus} (cpuset) and a CPU quota of its threads" if self._cpus else "a CPU quota of its threads"

    def _mounts(self, spec: LaunchSpec) -> list:
        from docker.types import Mount

        def bind(source: Path | str, target: str, read_only: bool = True) -> Mount:
            return Mount(target, str(source), type="bind", read_only=read_only)

        mounts = []
        if self._local_image:
            mounts += [bind(entry.name, entry.name) for entry in system_entries() if entry.link_target is None]
            mounts += [bind(prefix, str(prefix)) for prefix in python_prefixes()]
            mounts += [bind(path, str(path)) for path in etc_files()]
        mounts += [
            bind(harness_package_dir(), f"{SANDBOX_HARNESS_ROOT}/harness"),
            bind(spec.job_dir, SANDBOX_JOB),
            Mount(SANDBOX_OUT, self._volume, type="volume"),
        ]
        return mounts

    def _options(self, spec: LaunchSpec) -> dict:
        from docker.types import DeviceRequest, LogConfig, Ulimit

        limits = spec.limits
        python = sys.executable if self._local_image else IMAGE_PYTHON
        uid, gid = sandbox_user()
        tmpfs = {folder: f"size={size},mode=1777" for folder, size in scratch_folders(limits) if folder != "/dev/shm"}
        if self._local_image:
            tmpfs.update({str(path): "size=4k,mode=0555,ro" for path in masked_paths()})
        options = dict(
            command=worker_command(python, SANDBOX_HARNESS_ROOT, SANDBOX_JOB, SANDBOX_OUT),
            environment=sandbox_environment(
                home=SANDBOX_TMP,
                torch_threads=spec.torch_threads,
                gpu_visible=None if spec.gpu_index is None else "0",  # the one GPU passed through
                python_bin=str(Path(python).parent) if self._local_image else "/usr/local/bin",
            ),
            user=f"{uid}:{gid}",
            working_dir=SANDBOX_TMP,
            hostname="sandbox",
            network_mode="none",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=limits.cgroup_memory_bytes,
            memswap_limit=limits.cgroup_memory_bytes,
            pids_limit=limits.max_processes,
            shm_size=dict(scratch_folders(limits))["/dev/shm"],
            nano_cpus=int(spec.torch_threads * 1e9),
            ulimits=[
                Ulimit(name="nofile", soft=limits.max_open_files, hard=limits.max_open_files),
                Ulimit(name="fsize", soft=limits.max_file_bytes, hard=limits.max_file_bytes),
                Ulimit(name="core", soft=0, hard=0),
            ],
            tmpfs=tmpfs,
            mounts=self._mounts(spec),
            log_config=LogConfig(type="none"),
            labels=_labels(),
            name=f"unlearn-sandbox-{uuid.uuid4().hex[:12]}",
            detach=True,
        )
        if spec.cpus:
            options["cpuset_cpus"] = spec.cpus
        if limits.docker_runtime:
            options["runtime"] = limits.docker_runtime
        if spec.gpu_index is not None:
            options["device_requests"] = [DeviceRequest(device_ids=[str(spec.gpu_index)], capabilities=[["gpu"]])]
        return options

    def start(self, spec: LaunchSpec, sinks: StreamSinks) -> None:
        import docker

        try:
            self._container = self._client.containers.create(self._image, **self._options(spec))
            # Attach before start so that no output is missed; demux separates stdout from stderr.
            stream = self._client.api.attach(self._container.id, stdout=True, stderr=True, stream=True, demux=True, logs=False)
        except docker.errors.DockerException as error:
            raise HarnessError(f"--sandbox docker: cannot create the sandbox container ({error})") from None

        def read() -> None:
            try:
                for stdout, stderr in stream:
                    if stdout:
                        sinks.protocol(stdout, time.monotonic())
                    if stderr:
                        sinks.output(stderr)
            except Exception:  # the connection broke: the waiter still reports the end
                pass

        def wait() -> None:
            try:
                self._client.api.wait(self._container.id, timeout=None)
            except Exception:
                pass
            ended = time.monotonic()
            try:
                self._status = self._client.api.inspect_container(self._container.id)["State"]
            except Exception:
                self._status = None
            sinks.exited(ended)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        try:
            self._container.start()
        except docker.errors.DockerException as error:
            raise HarnessError(f"--sandbox docker: cannot start the sandbox container ({error})") from None
        threading.Thread(target=wait, daemon=True).start()
        self._cpus = spec.cpus
        try:
            pid = int(self._client.api.inspect_container(self._container.id)["State"]["Pid"])
        except Exception:
            pid = 0
        self._cgroups = process_cgroups(pid) if pid > 0 else None  # None when the engine is elsewhere

    def kill(self) -> None:
        if self._container is None:
            return
        try:
            self._client.api.kill(self._container.id)
        except Exception:  # already stopped or gone
            pass

    def exit_status(self) -> ExitStatus:
        if not self._status:
            return ExitStatus(None)
        return ExitStatus(self._status.get("ExitCode"), oom_killed=bool(self._status.get("OOMKilled")))

    def drain(self, timeout: float) -> None:
        if self._reader is not None:
            self._reader.join(timeout)

    def close(self) -> None:
        if self._container is not None:
            try:
                self._client.api.remove_container(self._container.id, force=True)
            except Exception:
                pass
            self._container = None
        if self._volume is not None:
            try:  # the output's tmpfs goes with it: nothing of the submission stays
                self._client.api.remove_volume(self._volume, force=True)
            except Exception:
                pass
            self._volume = None


def _labels() -> dict[str, str]:
    """Who made a container or volume: this host's supervisor process (stale ones are removed)."""
    return {LABEL: "1", f"{LABEL}.host": socket.gethostname(), f"{LABEL}.pid": str(os.getpid())}


class _ChunkReader:
    """A file-like view of the archive API's chunk iterator (tarfile reads it as a stream)."""

    def __init__(self, chunks):
        self._chunks, self._buffer = iter(chunks), b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _extract_single_file(chunks, destination: Path, max_bytes: int) -> None:
    from harness.sandbox.validation import InvalidModel

    temporary = destination.with_name(f".{destination.name}.partial")
    try:
        with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as archive:
            member = archive.next()
            if member is None or not member.isreg() or member.size > max_bytes:
                raise InvalidModel("the weights file is not a regular file of a model's size")
            source = archive.extractfile(member)
            copied = 0
            with open(temporary, "wb") as target:
                while chunk := source.read(1 << 20):
                    copied += len(chunk)
                    if copied > max_bytes:
                        raise InvalidModel(f"the weights file has more than {max_bytes} bytes")
                    target.write(chunk)
        os.replace(temporary, destination)
    except tarfile.TarError as error:
        raise InvalidModel(f"the weights could not be fetched from the sandbox ({error})") from None
    finally:
        temporary.unlink(missing_ok=True)


def _remove_stale_containers(client) -> None:
    """Remove sandboxes left by supervisors on this host that died without cleaning up."""
    host = socket.gethostname()
    try:
        containers = client.api.containers(all=True, filters={"label": [LABEL, f"{LABEL}.host={host}"]})
    except Exception:
        return
    for container in containers:
        pid = int(container.get("Labels", {}).get(f"{LABEL}.pid", "0") or 0)
        if pid and not _alive(pid):
            try:
                client.api.remove_container(container["Id"], force=True)
            except Exception:
                pass
    try:
        volumes = client.api.volumes(filters={"label": [LABEL, f"{LABEL}.host={host}"]}).get("Volumes") or []
    except Exception:
        return
    for volume in volumes:
        pid = int((volume.get("Labels") or {}).get(f"{LABEL}.pid", "0") or 0)
        if pid and not _alive(pid):
            try:
                client.api.remove_volume(volume["Name"], force=True)
            except Exception:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
