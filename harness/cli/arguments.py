"""Arguments shared by the commands that evaluate submissions (run, check, reproduce)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.compute.engines import BACKENDS

SANDBOXES = ("auto", "docker", "bwrap", "none")
DEFAULT_COMPETITION = "digits"


def add_competition_arguments(parser: argparse.ArgumentParser, *, n_models_help: str = "N: models of each kind (default: the competition's)") -> None:
    parser.add_argument("--competition", default=DEFAULT_COMPETITION, metavar="NAME|PATH",
                        help=f"a shipped competition or a TOML file (default {DEFAULT_COMPETITION}, needs no download)")
    parser.add_argument("--n-models", type=int, metavar="N", help=n_models_help)
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="where local datasets live (or $UNLEARN_HARNESS_DATA)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="retrain pool cache (default $XDG_CACHE_HOME/unlearning-harness)")


def add_time_cutoff_argument(parser: argparse.ArgumentParser) -> None:
    """The organizers' time cutoff, over the competition's (RunSettings validates it)."""
    parser.add_argument(
        "--time-cutoff", type=float, metavar="FRACTION",
        help="unlearning time allowed per run, as a fraction of one retrain (default: the competition's, "
        "usually 0.1); above 1 allows more than a retrain",
    )


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", choices=SANDBOXES, default="auto",
                        help="isolation for the submission: docker if an engine answers, else bwrap (default auto)")
    parser.add_argument("--docker-runtime", metavar="RUNTIME", help="Docker runtime for the sandbox, e.g. runsc (gVisor)")
    parser.add_argument("--docker-image", metavar="IMAGE", help="sandbox image (default: $UNLEARN_HARNESS_SANDBOX_IMAGE, else a minimal local one)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:K, or auto (cuda when available)")
    parser.add_argument("--jobs", type=int, metavar="J", help="parallel workers: models trained, sandboxes run (default: one per CPU core)")
    parser.add_argument("--backend", choices=BACKENDS, default="loky", help="joblib engine for the work items (default loky)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler or Ray cluster address")
    add_stacking_arguments(parser)
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="no progress bars; only the result")
    verbosity.add_argument("--verbose", action="store_true", help="progress bars even off a terminal, and step-by-step logs")


def add_stacking_arguments(parser: argparse.ArgumentParser) -> None:
    """How the retrain pool trains its missing models: one at a time, or stacked (harness.training.stacked)."""
    parser.add_argument("--batch-models", type=int, metavar="K",
                        help="train missing retrained models up to K at a time in one stacked network "
                             "(default: stacks of 8 where that is faster, small CNNs on CPU; 1: one at a time)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="train the stacks under bf16 autocast on CPU too, as on CUDA (default: where the CPU computes in bf16 "
                             "natively, AMX or AVX-512 BF16; --no-bf16: float32)")


def stacking(args: argparse.Namespace) -> tuple[int | None, bool | None]:
    """(batch_models, bf16) for ensure_pool from the stacking arguments; a clear error for --bf16 without stacks."""
    from harness.errors import HarnessError

    if args.batch_models is not None and args.batch_models < 1:
        raise HarnessError(f"--batch-models must be at least 1, got {args.batch_models}")
    if args.bf16 and args.batch_models == 1:
        raise HarnessError("--bf16 applies to stacked training, and --batch-models 1 turns stacking off")
    return args.batch_models, args.bf16


def apply_verbosity(args: argparse.Namespace) -> None:
    import logging

    from harness.utils.progress import set_progress

    set_progress(False if args.quiet else True if args.verbose else None)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")


def resolve_jobs(jobs: int | None, device: str) -> int:
    """Default: one worker per GPU, else one single-threaded worker per core (retrain and unlearning alike)."""
    from harness.compute.devices import default_jobs

    return jobs or default_jobs(device)


def resolve_device(name: str) -> str:
    """'auto' becomes cuda when a GPU is visible; an unavailable device is a usage error."""
    from harness.compute.devices import resolve_device as resolve

    return str(resolve(name))


def run_settings(args: argparse.Namespace, competition, out_dir: Path, *, n_models: int | None = None, **overrides):
    """RunSettings from the shared arguments; `overrides` set the fields a command decides itself."""
    from harness.run.pipeline import RunSettings

    device = resolve_device(args.device)
    values = dict(
        competition=competition,
        n_models=args.n_models or n_models or competition.n_models,
        out_dir=Path(out_dir).resolve(),
        sandbox=args.sandbox,
        device=device,
        jobs=resolve_jobs(args.jobs, device),
        backend=args.backend,
        scheduler=args.scheduler,
        cache_dir=args.cache_dir,
        data_dir=args.data_dir,
        docker_runtime=args.docker_runtime,
        docker_image=args.docker_image,
        progress=not args.quiet,
        time_cutoff=args.time_cutoff,
    )
    values["batch_models"], values["bf16"] = stacking(args)
    values.update(overrides)
    return RunSettings(**values)
