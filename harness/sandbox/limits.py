"""Resource limits of a sandbox and the rule that stops a run which clearly exceeds its budget.

A competition may set the resource and time limits in its [sandbox] table (COMPETITION_LIMITS,
read by harness.config.reader); the cores, the Docker image and runtime are the machine's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from harness.errors import ConfigError

GiB = 1024**3
MiB = 1024**2
# Organizers point every evaluation at their image (docker/Dockerfile) without a flag per command.
IMAGE_ENV = "UNLEARN_HARNESS_SANDBOX_IMAGE"


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox may use, and backend options that shape it.

    Time: a run is stopped (status `timeout`) once its wall time, or its CPU time where the
    sandbox accounts it, exceeds `timeout_factor` x its budget on that clock + `timeout_grace_seconds`;
    a run's clocks start when the supervisor releases it, before it imports the submission.
    Without a budget, `max_run_seconds` applies. A run slower than its budget but under this limit completes: the
    evaluation reports it as over time, the sandbox does not decide that.

    Memory: `memory_bytes` is each process's data (heap) limit (RLIMIT_DATA: an allocation beyond it
    fails with MemoryError); the kernel's memory cgroup allows the scratch folders (`tmp_bytes`,
    64 MiB of /dev/shm, `kaggle_bytes` for each of /kaggle/tmp and /kaggle/working), the output
    folder (`output_bytes`) and `memory_headroom_bytes` more, for shared mappings, and kills the
    sandbox's largest process beyond that.

    Output: /out is a file system of `output_bytes` and `output_files` entries where the harness
    can mount one (root, or Docker); elsewhere the supervisor checks it every second.

    CPUs: the sandbox is bound to `cpus` (a cpuset list such as "0-3"; None: the supervisor picks
    as many cores as the job has threads) and capped at its threads' worth of CPU time.
    """

    memory_bytes: int = 8 * GiB
    memory_headroom_bytes: int = 512 * MiB
    tmp_bytes: int = 1 * GiB  # private /tmp (a tmpfs, counted as memory)
    kaggle_bytes: int = 512 * MiB  # each of /kaggle/tmp and /kaggle/working (tmpfs, counted as memory)
    output_bytes: int = 512 * MiB  # /out, where the weights go (a resnet18 is 45 MB)
    output_files: int = 1000
    max_file_bytes: int = 4 * GiB  # RLIMIT_FSIZE
    max_processes: int = 512  # processes and threads (pids cgroup)
    max_open_files: int = 4096
    cpus: str | None = None  # a cpuset such as "0-3"; None: as many cores as the job's threads
    timeout_factor: float = 3.0
    timeout_grace_seconds: float = 30.0
    max_run_seconds: float = 6 * 3600.0  # per run when the budget is unknown
    startup_timeout_seconds: float = 600.0  # until the worker has loaded the job
    log_head_bytes: int = 64 * 1024  # of each run's stdout/stderr, kept from the start ...
    log_tail_bytes: int = 64 * 1024  # ... and from the end; the middle is dropped
    submission_bytes: int = 512 * MiB
    # None: $UNLEARN_HARNESS_SANDBOX_IMAGE where the sandbox starts, else a minimal local image with
    # the host's Python bound read-only (harness.sandbox.backends.docker).
    docker_image: str | None = None
    docker_runtime: str | None = None  # e.g. "runsc" (gVisor)

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"sandbox limit {limit.name} must be positive, got {value!r}")
        if self.timeout_factor < 1:
            raise ConfigError(f"sandbox limit timeout_factor must be at least 1, got {self.timeout_factor}")

    def run_timeout_seconds(self, per_run_budget_seconds: float | None) -> float:
        """How long one run may take before the supervisor stops it."""
        if per_run_budget_seconds is None:
            return self.max_run_seconds
        return self.timeout_factor * per_run_budget_seconds + self.timeout_grace_seconds

    @property
    def cgroup_memory_bytes(self) -> int:
        from harness.sandbox.layout import SHM_BYTES

        folders = self.tmp_bytes + SHM_BYTES + 2 * self.kaggle_bytes + self.output_bytes
        return self.memory_bytes + folders + self.memory_headroom_bytes


# What the machine decides, not the competition: the cores a sandbox is bound to, the Docker image and runtime.
MACHINE_OPTIONS = ("cpus", "docker_image", "docker_runtime")
# The limits a competition file may set in its [sandbox] table.
COMPETITION_LIMITS = tuple(limit.name for limit in fields(SandboxLimits) if limit.name not in MACHINE_OPTIONS)
