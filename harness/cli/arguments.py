"""The flags the commands share, each defined once: the same flag means the same thing in every command.

A command adds the groups it needs; only its own help text and default may differ (the README's
"Commands" table lists them). Former spellings stay accepted as hidden aliases (`--backend` for
`--engine`, `--models` for `--n-models`, `--out-dir` for `--out`), so existing scripts keep working.
Everything here is cheap to import: no torch (`unlearn-harness score` builds this parser too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.compute.engines import ENGINES
from harness.sandbox.backends import SANDBOX_CHOICES
from scoring.constants import RESAMPLE_KINDS

DEFAULT_COMPETITION = "digits"


def _hidden_alias(parser, flag: str, dest: str, **options) -> None:
    """A former spelling of a flag: accepted, not shown in --help."""
    parser.add_argument(flag, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **options)


# --- what is evaluated -----------------------------------------------------------------------------
def add_competition(parser: argparse.ArgumentParser, *, required: bool = False, default: str | None = DEFAULT_COMPETITION,
                    help: str | None = None) -> None:
    parser.add_argument(
        "--competition", required=required, default=None if required else default, metavar="NAME|PATH",
        help=help or f"a shipped competition or a TOML file (default {default}, needs no download)",
    )


def add_n_models(parser, *, help: str = "N: models of each kind (default: the competition's)", required: bool = False) -> None:
    parser.add_argument("--n-models", type=int, required=required, metavar="N", help=help)


def add_data(parser: argparse.ArgumentParser) -> None:
    """Where the data and the caches are."""
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="where local datasets live (or $UNLEARN_HARNESS_DATA)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="the cache: retrain pools, generated manifests (default $UNLEARN_HARNESS_CACHE, else $XDG_CACHE_HOME/unlearning-harness)")


def add_phases(parser: argparse.ArgumentParser, *, help: str = "only this phase (repeatable; default: every phase)") -> None:
    parser.add_argument("--phase", action="append", metavar="NAME", help=help)


def one_phase(args: argparse.Namespace, command: str) -> str | None:
    """The one phase a command that works on one phase was given (None: its default)."""
    from harness.errors import HarnessError

    if args.phase and len(args.phase) > 1:
        raise HarnessError(f"{command} works on one phase; give --phase once (got {', '.join(args.phase)})")
    return args.phase[0] if args.phase else None


def add_out(parser: argparse.ArgumentParser, *, help: str, default: str | None = None) -> None:
    parser.add_argument("--out", type=Path, default=Path(default) if default else None, metavar="DIR", help=help)
    _hidden_alias(parser, "--out-dir", "out", type=Path, metavar="DIR")


# --- how it runs ----------------------------------------------------------------------------------
def add_jobs(parser: argparse.ArgumentParser, *, help: str, default: int | None = None) -> None:
    """--jobs J: how many work items run at once (joblib's n_jobs), in every command."""
    parser.add_argument("--jobs", type=int, default=default, metavar="J", help=help)


def add_execution(parser: argparse.ArgumentParser) -> None:
    """Where the work items run: the device, how many at once, the joblib engine."""
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:K, or auto (cuda when available; the default)")
    add_jobs(parser, help="parallel workers: models trained, sandboxes run, models evaluated (default: one per GPU, else one per CPU core)")
    parser.add_argument("--engine", choices=ENGINES, default="loky",
                        help="joblib engine for the work items: local processes, a dask or a Ray cluster (default loky)")
    _hidden_alias(parser, "--backend", "engine", choices=ENGINES)
    parser.add_argument("--scheduler", metavar="ADDRESS", help="with --engine dask or ray: the scheduler or cluster address")


def add_stacking(parser: argparse.ArgumentParser) -> None:
    """How the retrain pool trains its missing models: one at a time, or stacked (harness.training.stacked)."""
    parser.add_argument("--batch-models", type=int, metavar="K",
                        help="train missing retrained models up to K at a time in one stacked network "
                             "(default: stacks of 8 where that is faster, small CNNs on CPU; 1: one at a time)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="train the stacks under bf16 autocast on CPU too, as on CUDA (default: where the CPU computes in bf16 "
                             "natively, AMX or AVX-512 BF16; --no-bf16: float32)")


def add_sandbox(parser: argparse.ArgumentParser) -> None:
    """The isolation the submission runs in, and the organizers' time cutoff."""
    parser.add_argument("--sandbox", choices=SANDBOX_CHOICES, default="auto",
                        help="isolation for the submission: docker if an engine answers, else bwrap (default auto)")
    parser.add_argument("--docker-runtime", metavar="RUNTIME", help="Docker runtime for the sandbox, e.g. runsc (gVisor)")
    parser.add_argument("--docker-image", metavar="IMAGE", help="sandbox image (default: $UNLEARN_HARNESS_SANDBOX_IMAGE, else a minimal local one)")
    parser.add_argument(
        "--time-cutoff", type=float, metavar="FRACTION",
        help="unlearning time allowed per run, as a fraction of one retrain (default: the competition's, "
        "usually 0.1); above 1 allows more than a retrain",
    )


def add_evaluation(parser: argparse.ArgumentParser) -> None:
    """Everything an evaluating command (run, check, reproduce, confirm) shares besides what it evaluates."""
    add_sandbox(parser)
    add_execution(parser)
    add_stacking(parser)
    add_verbosity(parser)


# --- how it is scored -----------------------------------------------------------------------------
def add_bootstrap(parser: argparse.ArgumentParser, *, default: int, help: str) -> None:
    parser.add_argument("--bootstrap", type=int, default=default, metavar="N", help=help)


def add_resampling(parser: argparse.ArgumentParser) -> None:
    """What --bootstrap resamples, and the seed of the resamples."""
    parser.add_argument(
        "--resample", choices=RESAMPLE_KINDS,
        help="what --bootstrap resamples: forget examples (default; one scoring in all) or models (one scoring per resample)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (and calibration) resamples (default 0)")


def add_scoring_jobs(parser: argparse.ArgumentParser) -> None:
    add_jobs(parser, default=1, help="parallel workers (threads) for the per-example epsilons (default 1)")


# --- what it says ---------------------------------------------------------------------------------
def add_verbosity(parser: argparse.ArgumentParser) -> None:
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="no progress bars; only the result")
    verbosity.add_argument("--verbose", action="store_true", help="progress bars even off a terminal, and step-by-step logs")


def apply_verbosity(args: argparse.Namespace) -> None:
    import logging

    from harness.utils.progress import set_progress

    set_progress(False if args.quiet else True if args.verbose else None)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")


# --- from flags to settings -----------------------------------------------------------------------
def run_settings(args: argparse.Namespace, competition, out_dir: Path, *, n_models: int | None = None, **overrides):
    """RunSettings from the shared flags (checked there, once); `overrides` set what a command decides itself."""
    from harness.run.settings import RunSettings

    values = dict(
        n_models=args.n_models if args.n_models is not None else n_models,
        sandbox=args.sandbox,
        device=args.device,
        jobs=args.jobs,
        engine=args.engine,
        scheduler=args.scheduler,
        cache_dir=args.cache_dir,
        data_dir=args.data_dir,
        docker_runtime=args.docker_runtime,
        docker_image=args.docker_image,
        progress=not args.quiet,
        time_cutoff=args.time_cutoff,
        batch_models=args.batch_models,
        bf16=args.bf16,
    )
    values.update(overrides)
    return RunSettings.resolve(competition, out_dir, **values)
