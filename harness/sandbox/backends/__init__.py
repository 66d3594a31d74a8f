"""Sandbox backends by name, and the choice `auto` makes."""

from __future__ import annotations

from harness.errors import HarnessError
from harness.sandbox.backends.base import ExitStatus, LaunchSpec, Sandbox, StreamSinks
from harness.sandbox.limits import SandboxLimits

BACKENDS = ("auto", "docker", "bwrap", "none")


def resolve_backend(name: str) -> str:
    """The backend `name` stands for: `auto` is docker when an engine answers, else bwrap.

    Raises HarnessError when the named backend cannot run here, saying how to install one (or
    that `--sandbox none` runs without isolation).
    """
    from harness.sandbox.backends.bwrap import bwrap_problem
    from harness.sandbox.backends.docker import docker_problem

    if name not in BACKENDS:
        raise HarnessError(f"unknown sandbox {name!r}; choose one of: {', '.join(BACKENDS)}")
    if name == "none":
        return name
    if name == "docker":
        problem = docker_problem()
        if problem:
            raise HarnessError(f"--sandbox docker: {problem}")
        return name
    if name == "bwrap":
        problem = bwrap_problem()
        if problem:
            raise HarnessError(f"--sandbox bwrap: {problem}")
        return name
    docker, bwrap = docker_problem(), bwrap_problem()
    if docker is None:
        return "docker"
    if bwrap is None:
        return "bwrap"
    raise HarnessError(
        "no sandbox is available: "
        f"docker: {docker}; bwrap: {bwrap}. Install one (apt-get install bubblewrap, or docker.io and start dockerd), "
        "or pass --sandbox none to run the submission WITHOUT isolation"
    )


def create_backend(name: str, limits: SandboxLimits) -> Sandbox:
    """A backend instance for a resolved name (see resolve_backend)."""
    if name == "docker":
        from harness.sandbox.backends.docker import DockerSandbox

        return DockerSandbox(limits)
    if name == "bwrap":
        from harness.sandbox.backends.bwrap import BwrapSandbox

        return BwrapSandbox(limits)
    if name == "none":
        from harness.sandbox.backends.none import NoSandbox

        return NoSandbox(limits)
    raise HarnessError(f"unknown sandbox backend {name!r}")


__all__ = ["BACKENDS", "ExitStatus", "LaunchSpec", "Sandbox", "StreamSinks", "create_backend", "resolve_backend"]
