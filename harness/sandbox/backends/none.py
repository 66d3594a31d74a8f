"""No sandbox: the worker is a plain subprocess with the user's full access. For debugging only.

The supervisor still times runs, applies the worker's rlimits and checks returned weights, but
nothing stops the submission from reading any file the user can, using the network, or killing
the harness. `run_submission` prints a warning, every log says NOT ISOLATED, and every outcome
records `isolated=False`; a competition can forbid this backend (allow_unsandboxed = false).
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.sandbox.backends.base import LaunchSpec, SubprocessSandbox
from harness.sandbox.layout import harness_package_dir, sandbox_environment, worker_command

WARNING = (
    "WARNING: --sandbox none: the submission runs NOT ISOLATED, as a plain process with your user's "
    "full access to files, network and processes. Use it only to debug code you trust."
)


class NoSandbox(SubprocessSandbox):
    name = "none"
    isolated = False
    own_pid_namespace = False

    def cpu_accounting_problem(self) -> str | None:
        return "--sandbox none runs the worker as a plain process, without a cgroup that accounts its CPU time"

    def visible_roots(self, spec: LaunchSpec) -> list[str]:
        return ["/"]

    def command(self, spec: LaunchSpec) -> tuple[list[str], dict[str, str], Path]:
        home = spec.scratch_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        argv = worker_command(sys.executable, str(harness_package_dir().parent), str(spec.job_dir), str(spec.out_dir))
        environment = sandbox_environment(
            home=str(home),
            torch_threads=spec.torch_threads,
            gpu_visible=None if spec.gpu_index is None else str(spec.gpu_index),
            python_bin=str(Path(sys.executable).parent),
        )
        return argv, environment, home
