"""The sandboxed submission runner: the trust boundary of the harness (DESIGN.md).

    from harness.sandbox import UnlearningJob, run_submission
    outcomes = run_submission(Path("my_submission.py"), job, Path("work"), backend="auto")

Modules: job (what the sandbox receives), worker (runs inside it; the only importer of
participant code), supervisor (trusted: starts, times, stops, validates), backends (docker,
bwrap, none), validation (returned weights), failures and protocol (classification and messages),
limits, logs, outcomes, layout (what a sandbox shows).

Names are loaded on first use: the worker imports `harness.sandbox.worker` inside the sandbox and
must not pull in the supervisor's dependencies (the Docker SDK) with this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "UnlearningJob": "harness.sandbox.job",
    "run_submission": "harness.sandbox.supervisor",
    "RunOutcome": "harness.sandbox.outcomes",
    "mean_run_seconds": "harness.sandbox.outcomes",
    "SandboxLimits": "harness.sandbox.limits",
    "resolve_backend": "harness.sandbox.backends",
    "BACKENDS": "harness.sandbox.backends",
    "load_returned_state_dict": "harness.sandbox.validation",
    "InvalidModel": "harness.sandbox.validation",
    "weights_sha256": "harness.sandbox.validation",
    "FAILURE_KINDS": "harness.sandbox.protocol",
    "NOT_RUN": "harness.sandbox.protocol",
    "INVALID_SUBMISSION": "harness.sandbox.protocol",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from harness.sandbox.backends import BACKENDS, resolve_backend
    from harness.sandbox.job import UnlearningJob
    from harness.sandbox.limits import SandboxLimits
    from harness.sandbox.outcomes import RunOutcome, mean_run_seconds
    from harness.sandbox.protocol import FAILURE_KINDS, INVALID_SUBMISSION, NOT_RUN
    from harness.sandbox.supervisor import run_submission
    from harness.sandbox.validation import InvalidModel, load_returned_state_dict, weights_sha256
