"""What the sandbox costs: start-up per sandbox, and overhead per run, for bwrap and docker vs none.

Setting: the digits competition (data from scikit-learn, split by its manifest), its original
model trained with the competition's recipe, and the fine-tuning baseline (baselines/finetune.py)
run with the competition's real per-run budget (time_cutoff x a measured retrain). Each backend
runs all seeds in ONE sandbox, as the evaluation does. Reported per backend:

- once per sandbox: wall time of run_submission minus the runs' supervisor-measured seconds
  (writing the job, starting the sandbox, loading torch and the job in the worker, tearing down);
- per run: the median supervisor-measured seconds of a run (and the mean, which is what the
  time limit uses);
- overhead per run: that median minus the median of the same fine-tuning called in this process
  on the same data (no worker, no sandbox), and the part of it due to the sandbox (backend - none).

    python benchmarks/sandbox_overhead.py [--seeds 10] [--backends none bwrap docker] [--budget S]
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config import load_competition  # noqa: E402
from harness.data import make_loader  # noqa: E402
from harness.data import load_data  # noqa: E402
from harness.sandbox import SandboxLimits, UnlearningJob, run_submission  # noqa: E402
from harness.sandbox.run_environment import ENV_TIME_BUDGET  # noqa: E402
from harness.sandbox.run_process import seed_everything  # noqa: E402
from harness.training.trainer import train_model  # noqa: E402

SUBMISSION = REPO / "baselines" / "finetune.py"
if not SUBMISSION.exists():
    SUBMISSION = REPO / "submissions" / "examples" / "finetune.py"


def in_process_run_seconds(submission: Path, job: UnlearningJob, template: torch.nn.Module, budget: float) -> list[float]:
    """The same runs called directly (what a run costs with no worker and no sandbox)."""
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("benchmark_submission", submission)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ[ENV_TIME_BUDGET] = repr(budget)
    seconds = []
    for seed in job.seeds:
        started = time.perf_counter()
        loader_seeds = seed_everything(seed)
        net = copy.deepcopy(template).train()
        retain, forget, val = (
            make_loader(split, job.batch_size, shuffle=True, seed=loader_seed, batch_format=job.batch_format)
            for split, loader_seed in zip((job.retain, job.forget, job.val), loader_seeds)
        )
        module.unlearn(net, retain, forget, val)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="runs per sandbox")
    parser.add_argument("--backends", nargs="+", default=["none", "bwrap", "docker"])
    parser.add_argument("--budget", type=float, help="per-run budget in seconds (default: time_cutoff x a measured retrain)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    competition = load_competition("digits")
    data = load_data(competition, "public")
    original = train_model(competition, data, train_on="all", seed=0, progress=False)
    retrain_seconds = train_model(competition, data, train_on="retain", seed=1, progress=False).seconds
    budget = args.budget or competition.time_cutoff * retrain_seconds
    template = original.model.cpu()
    print(f"digits: retrain {retrain_seconds:.2f} s -> per-run budget {budget:.3f} s; submission {SUBMISSION.relative_to(REPO)}")

    with tempfile.TemporaryDirectory(prefix="sandbox-overhead-") as scratch:
        scratch = Path(scratch)
        weights = scratch / "original.safetensors"
        from safetensors.torch import save_file

        save_file({key: value.contiguous() for key, value in template.state_dict().items()}, str(weights))
        job = UnlearningJob(
            architecture=competition.architecture, num_classes=competition.num_classes, in_channels=competition.in_channels,
            original_weights=weights, retain=data.retain, forget=data.forget, val=data.val,
            batch_size=competition.batch_size, batch_format=competition.batch_format,
            seeds=list(range(1000, 1000 + args.seeds)), per_run_budget_seconds=budget, competition=competition.name,
        )
        direct = in_process_run_seconds(SUBMISSION, job, template, budget)
        print(f"in process (no worker, no sandbox): median {statistics.median(direct) * 1000:.1f} ms per run")

        results = {}
        for backend in args.backends:
            started = time.perf_counter()
            outcomes = run_submission(SUBMISSION, job, scratch / backend, backend=backend, limits=SandboxLimits(), progress=False)
            wall = time.perf_counter() - started
            failed = [outcome for outcome in outcomes if outcome.status != "ok"]
            if failed:
                raise SystemExit(f"{backend}: run failed: {failed[0].status}: {failed[0].message}")
            seconds = [outcome.wall_seconds for outcome in outcomes]  # wall, as the in-process runs
            results[backend] = (wall - sum(seconds), statistics.mean(seconds), statistics.median(seconds))

    direct_median = statistics.median(direct)
    print(f"\n{'backend':8} {'per sandbox s':>13} {'run ms':>7} {'mean ms':>8} {'overhead ms':>12} {'% of run':>9} {'vs none ms':>11}")
    for backend, (once, mean, median) in results.items():
        overhead = median - direct_median
        versus_none = f"{(median - results['none'][2]) * 1000:+.1f}" if "none" in results else "n/a"
        print(f"{backend:8} {once:13.2f} {median * 1000:7.1f} {mean * 1000:8.1f} {overhead * 1000:12.1f} "
              f"{100 * overhead / direct_median:8.1f}% {versus_none:>11}")
    print(f"\n{platform.node()}: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
