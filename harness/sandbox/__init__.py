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

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "UnlearningJob": "harness.sandbox.job",
    "run_submission": "harness.sandbox.supervisor",
    "RunOutcome": "harness.sandbox.outcomes",
    "mean_run_seconds": "harness.sandbox.outcomes",
    "SandboxLimits": "harness.sandbox.limits",
    "resolve_sandbox": "harness.sandbox.backends",
    "SANDBOXES": "harness.sandbox.backends",
    "SANDBOX_CHOICES": "harness.sandbox.backends",
    "load_returned_state_dict": "harness.sandbox.validation",
    "InvalidModel": "harness.sandbox.validation",
    "weights_sha256": "harness.sandbox.validation",
    "FAILURE_KINDS": "harness.sandbox.protocol",
    "NOT_RUN": "harness.sandbox.protocol",
    "INVALID_SUBMISSION": "harness.sandbox.protocol",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
