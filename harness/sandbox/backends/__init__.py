"""The sandboxes by name (one registry), and the choice `auto` makes.

A sandbox entry names its backend class (a harness.sandbox.backends.base.Sandbox) and, for a real
sandbox, the check that says why it cannot run here; both are imported only when asked for, so the
registry is cheap to import (the CLI lists its names). `--sandbox auto` takes the first of
AUTO_ORDER that can run.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.registry import Registry, load_target
from harness.errors import HarnessError
from harness.sandbox.backends.base import ExitStatus, LaunchSpec, Sandbox, StreamSinks
from harness.sandbox.limits import SandboxLimits

AUTO = "auto"


@dataclass(frozen=True)
class SandboxInfo:
    name: str
    target: str  # "module:Class", the backend
    problem: str | None  # "module:function" returning why it cannot run here (None: it can); None: always runs
    isolated: bool
    description: str


SANDBOXES: Registry[SandboxInfo] = Registry("sandbox", [
    SandboxInfo("docker", "harness.sandbox.backends.docker:DockerSandbox", "harness.sandbox.backends.docker:docker_problem",
                isolated=True, description="Docker SDK: the organizers' sandbox (optionally gVisor)"),
    SandboxInfo("bwrap", "harness.sandbox.backends.bwrap:BwrapSandbox", "harness.sandbox.backends.bwrap:bwrap_problem",
                isolated=True, description="bubblewrap: light Linux namespaces, for local runs"),
    SandboxInfo("none", "harness.sandbox.backends.none:NoSandbox", None,
                isolated=False, description="a plain subprocess, NOT isolated: for debugging one's own code"),
])
AUTO_ORDER = ("docker", "bwrap")
# What --sandbox accepts.
SANDBOX_CHOICES = (AUTO, *SANDBOXES.names())


def sandbox_problem(name: str) -> str | None:
    """Why sandbox `name` cannot run here, or None when it can."""
    check = SANDBOXES[name].problem
    return None if check is None else load_target(check)()


def resolve_sandbox(name: str) -> str:
    """The sandbox `name` stands for: `auto` is docker when an engine answers, else bwrap.

    Raises HarnessError when the named sandbox cannot run here, saying how to install one (or
    that `--sandbox none` runs without isolation).
    """
    if name != AUTO and name not in SANDBOXES:
        raise HarnessError(f"unknown sandbox {name!r}; choose one of: {', '.join(SANDBOX_CHOICES)}")
    if name != AUTO:
        problem = sandbox_problem(name)
        if problem:
            raise HarnessError(f"--sandbox {name}: {problem}")
        return name
    problems = {candidate: sandbox_problem(candidate) for candidate in AUTO_ORDER}
    for candidate, problem in problems.items():
        if problem is None:
            return candidate
    raise HarnessError(
        "no sandbox is available: "
        + "; ".join(f"{candidate}: {problem}" for candidate, problem in problems.items())
        + ". Install one (apt-get install bubblewrap, or docker.io and start dockerd), "
        "or pass --sandbox none to run the submission WITHOUT isolation"
    )


def create_sandbox(name: str, limits: SandboxLimits) -> Sandbox:
    """A backend instance for a resolved name (see resolve_sandbox)."""
    if name not in SANDBOXES:
        raise HarnessError(f"unknown sandbox backend {name!r}")
    return SANDBOXES.load(name)(limits)


__all__ = [
    "AUTO",
    "SANDBOXES",
    "SANDBOX_CHOICES",
    "ExitStatus",
    "LaunchSpec",
    "Sandbox",
    "SandboxInfo",
    "StreamSinks",
    "create_sandbox",
    "resolve_sandbox",
    "sandbox_problem",
]
