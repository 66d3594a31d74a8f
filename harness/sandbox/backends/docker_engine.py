"""The Docker engine as the sandbox finds it: the SDK client, or why there is none; the sandbox user.

Used by the Docker backend (docker.py) and by the minimal local image (docker_image.py). The engine is
found as the Docker CLI finds it (DOCKER_HOST, else the default socket).
"""

from __future__ import annotations

import functools
import os

from harness.errors import HarnessError
from harness.sandbox.layout import SANDBOX_GID, SANDBOX_UID


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
