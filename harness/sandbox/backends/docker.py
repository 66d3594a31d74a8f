"""The Docker sandbox (the organizers' backend), driven through the Docker SDK for Python.

Each session is one container: no network, a read-only root, read-only binds of what the worker
needs (harness.sandbox.layout), one writable bind (/out), a size-limited tmpfs /tmp, all
capabilities dropped, no-new-privileges, an unprivileged user, memory (swap included), process
and CPU limits, GPUs passed through when the job has one, and optionally another runtime
(runsc: gVisor). Output is read through an attach stream (the logging driver is off, so nothing
a submission prints is stored by the engine). The engine is found as the Docker CLI finds it
(DOCKER_HOST, else the default socket).

Images: by default a minimal local image (docker_image.py) with the host's Python environment
bound read-only. An image built from docker/Dockerfile (`limits.docker_image`) brings its own
Python, torch and CUDA instead; the harness package is still bound from the host, so the worker
always matches the supervisor.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

from harness.errors import HarnessError
from harness.sandbox.backends.base import ExitStatus, LaunchSpec, Sandbox, StreamSinks
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
    python_prefixes,
    sandbox_environment,
    system_entries,
    visible_roots,
    worker_command,
)

LABEL = "unlearn-harness.sandbox"
SHM_BYTES = 64 * 1024 * 1024
IMAGE_PYTHON = "python3"  # on PATH in an image built from docker/Dockerfile
IMAGE_VISIBLE_ROOTS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt", "/var", "/sys",
                       SANDBOX_JOB, SANDBOX_OUT, SANDBOX_TMP, "/dev", "/proc"]


@functools.lru_cache(maxsize=None)
def _client_or_problem():
    try:
        import docker
    except ImportError:
        return None, "the Docker SDK for Python is not installed (pip install docker)"
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as error:  # the SDK raises several unrelated types for "no engine"
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return None, f"no Docker engine answers at {host} ({type(error).__name__}); start dockerd or set DOCKER_HOST"
    return client, None


def sandbox_user() -> tuple[int, int]:
    """Root on the host runs the sandbox as nobody; anyone else as themselves (their files are bound)."""
    return (SANDBOX_UID, SANDBOX_GID) if os.geteuid() == 0 else (os.getuid(), os.getgid())


def docker_problem() -> str | None:
    """None when a Docker engine answers, else why not (cached per process)."""
    return _client_or_problem()[1]


def docker_client():
    client, problem = _client_or_problem()
    if client is None:
        raise HarnessError(f"--sandbox docker: {problem}")
    return client


class DockerSandbox(Sandbox):
    name = "docker"
    isolated = True

    def __init__(self, limits):
        super().__init__(limits)
        self._client = None
        self._container = None
        self._reader: threading.Thread | None = None
        self._status: dict | None = None

    @property
    def _local_image(self) -> bool:
        return self.limits.docker_image is None

    def visible_roots(self, spec: LaunchSpec) -> list[str]:
        return visible_roots(["/sys"]) if self._local_image else list(IMAGE_VISIBLE_ROOTS)

    def hidden_roots(self, spec: LaunchSpec) -> list[str]:
        return [str(path) for path in masked_paths()] if self._local_image else []

    def prepare(self, spec: LaunchSpec) -> None:
        from harness.sandbox.backends.docker_image import ensure_local_image

        self._client = docker_client()
        self._image = ensure_local_image(self._client, *sandbox_user()) if self._local_image else self.limits.docker_image
        _remove_stale_containers(self._client)

    def prepare_output(self, out_dir: Path) -> None:
        uid, gid = sandbox_user()
        if os.geteuid() == 0:
            os.chown(out_dir, uid, gid)

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
            bind(spec.out_dir, SANDBOX_OUT, read_only=False),
        ]
        return mounts

    def _options(self, spec: LaunchSpec) -> dict:
        from docker.types import DeviceRequest, LogConfig, Ulimit

        limits = spec.limits
        python = sys.executable if self._local_image else IMAGE_PYTHON
        uid, gid = sandbox_user()
        tmpfs = {SANDBOX_TMP: f"size={limits.tmp_bytes},mode=1777"}
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
            shm_size=SHM_BYTES,
            ulimits=[
                Ulimit(name="nofile", soft=limits.max_open_files, hard=limits.max_open_files),
                Ulimit(name="fsize", soft=limits.max_file_bytes, hard=limits.max_file_bytes),
                Ulimit(name="core", soft=0, hard=0),
            ],
            tmpfs=tmpfs,
            mounts=self._mounts(spec),
            log_config=LogConfig(type="none"),
            labels={LABEL: "1", f"{LABEL}.host": socket.gethostname(), f"{LABEL}.pid": str(os.getpid())},
            name=f"unlearn-sandbox-{uuid.uuid4().hex[:12]}",
            detach=True,
        )
        if limits.cpus:
            options["cpuset_cpus"] = limits.cpus
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
        if self._container is None:
            return
        try:
            self._client.api.remove_container(self._container.id, force=True)
        except Exception:
            pass
        self._container = None


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
