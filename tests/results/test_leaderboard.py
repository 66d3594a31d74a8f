"""`unlearn-harness leaderboard`: ranking, bootstrap order stability, phases and bad input.

Result folders are synthetic (tests/results/test_outputs.py), scored and written through the same
modules as `unlearn-harness run` uses.
"""

from __future__ import annotations

import csv
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main as cli
from harness.errors import DataError
from harness.results.leaderboard import build_leaderboard, order_kept, to_markdown, write_leaderboard
from harness.results.phase import PhaseResult, load_phase_result
from harness.results.leaderboard.table import RANK_GROUP_ORDER_KEPT
from harness.results.score import ScoringOptions
from test_outputs import write_synthetic_result

CSV_CONTRACT = {"rank", "rank_group", "time_cutoff", "submission", "status", "score", "score_low", "score_high", "forget_quality",
                "retain_acc_ratio", "test_acc_ratio", "time_fraction"}
PHASES = ("public", "private")
# Results only ranked, never bootstrapped, need no extensions.
_NO_EXTRAS = ScoringOptions(bootstrap=0, calibration_splits=0)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    """Four submissions on one retrained pool (two phases each): a good, a leaky, a slow and a broken one."""
    root = tmp_path_factory.mktemp("results")
    settings = {
        "good": {"seed": 1},
        "leaky": {"seed": 2, "leak": 4.0, "n_leaky": 15},
        "slow": {"seed": 3, "unlearn_seconds": 4.0},
        "broken": {"failure": {"kind": "exception", "message": "ZeroDivisionError: division by zero"}},
    }
    return {
        name: write_synthetic_result(root / name, name=name, phases=PHASES, **kwargs)
        for name, kwargs in settings.items()
    }


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_ranks_scored_first_then_over_time_then_failed(results, tmp_path: Path, capsys):
    folders = [str(results[name]) for name in ("broken", "slow", "leaky", "good")]
    assert cli(["leaderboard", *folders, "--out", str(tmp_path)]) == 0
    rows = _read_csv(tmp_path / "leaderboard.csv")
    assert CSV_CONTRACT <= set(rows[0])
    assert [(row["rank"], row["submission"], row["status"]) for row in rows] == [
        ("1", "good", "scored"), ("2", "leaky", "scored"), ("3", "slow", "over_time"), ("4", "broken", "failed"),
    ]
    good, leaky, slow, broken = rows
    assert float(good["score_low"]) <= float(good["score"]) <= float(good["score_high"])
    assert float(good["retain_acc_ratio"]) > 0.9 and float(slow["time_fraction"]) == pytest.approx(0.4)
    assert slow["score"] == "" and broken["failure"] == "exception: ZeroDivisionError: division by zero"
    # Same pool, same seed: the stored resamples are paired.
    assert good["paired_with_next"] == "True" and 0.5 < float(good["order_kept_vs_next"]) <= 1.0
    markdown = capsys.readouterr().out
    assert markdown.startswith("# Leaderboard: synthetic, public phase")
    assert "| 1 | good | scored |" in markdown and "- broken (failed): exception: ZeroDivisionError" in markdown
    page = (tmp_path / "leaderboard.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 1 and "ZeroDivisionError" in page


def test_rebootstrapping_from_outputs_matches_the_stored_scores(results, tmp_path: Path):
    folders = [str(results["leaky"]), str(results["good"])]
    assert cli(["leaderboard", *folders, "--out", str(tmp_path), "--bootstrap", "30", "--resample", "examples", "--seed", "5"]) == 0
    rows = _read_csv(tmp_path / "leaderboard.csv")
    stored = [load_phase_result(results[name]).record for name in ("good", "leaky")]
    for row, record in zip(rows, stored):
        assert float(row["score"]) == record["score"]
        assert float(row["score_low"]) <= record["score"] <= float(row["score_high"])
    assert rows[0]["paired_with_next"] == "True"
    assert "30 resamples of examples (seed 5), re-scored from outputs.parquet" in (tmp_path / "leaderboard.html").read_text()


def test_the_private_phase_is_ranked_from_its_own_files(results, tmp_path: Path, capsys):
    folders = [str(results[name]) for name in ("good", "leaky")]
    assert cli(["leaderboard", *folders, "--phase", "private", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("# Leaderboard: synthetic, private phase")
    private = [load_phase_result(results[name], "private").record["score"] for name in ("good", "leaky")]
    public = [load_phase_result(results[name]).record["score"] for name in ("good", "leaky")]
    assert [float(row["score"]) for row in _read_csv(tmp_path / "leaderboard.csv")] == private
    assert private != public  # a different pool and forget set per phase


def test_a_run_of_the_private_phase_alone_is_ranked(results, tmp_path: Path, capsys):
    # `run --phase private` writes phases/private/ and no public score.json at the top.
    for name in ("good", "leaky"):
        shutil.copytree(results[name] / "phases" / "private", tmp_path / name / "phases" / "private")
    assert load_phase_result(tmp_path / "good").record == load_phase_result(results["good"], "private").record
    with pytest.raises(DataError, match="holds only the phase.s. private .*it has no phase 'public'"):
        load_phase_result(tmp_path / "good", "public")
    assert cli(["leaderboard", str(tmp_path / "good"), str(tmp_path / "leaky"), "--phase", "private", "--out", str(tmp_path / "board")]) == 0
    assert capsys.readouterr().out.startswith("# Leaderboard: synthetic, private phase")


def test_order_kept_counts_paired_and_unpaired_resamples():
    upper, lower = np.array([3.0, 2.0, 1.0, 2.0]), np.array([1.0, 2.5, 0.0, 2.0])
    # Paired: resample by resample (wins, loses, wins, ties).
    assert order_kept(upper, lower, paired=True) == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    # Unpaired: every pair of samples, ties counting half.
    brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(upper, lower)])
    assert order_kept(upper, lower, paired=False) == pytest.approx(brute)
    assert order_kept(lower, lower, paired=True) == 0.5
    # Resamples without a defined score are left out.
    assert order_kept(np.array([1.0, np.nan]), np.array([0.0, 5.0]), paired=True) == 1.0


def test_results_on_different_pools_are_compared_unpaired(results, tmp_path: Path):
    other_pool = write_synthetic_result(tmp_path / "other", name="other", pool_seed=7, seed=4)
    board = build_leaderboard([load_phase_result(results["good"]), load_phase_result(other_pool)])
    assert [row.paired_with_next for row in board.rows] == [False, None]
    assert "(unpaired)" in to_markdown(board)


def test_the_html_links_each_submission_to_its_report(tmp_path: Path):
    result = write_synthetic_result(tmp_path / "results" / "with-report", name="with-report", options=_NO_EXTRAS, report=True)
    board_dir = tmp_path / "boards" / "today"
    assert cli(["leaderboard", str(result), "--out", str(board_dir)]) == 0
    page = (board_dir / "leaderboard.html").read_text()
    assert '<a href="../../results/with-report/report.html">with-report</a>' in page


def test_equal_scores_share_a_rank(results, tmp_path: Path):
    twin = write_synthetic_result(tmp_path / "twin", name="twin", seed=1)
    board = build_leaderboard([load_phase_result(results["good"]), load_phase_result(twin), load_phase_result(results["leaky"])])
    assert [(row.rank, row.submission) for row in board.rows] == [(1, "good"), (1, "twin"), (3, "leaky")]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{missing}"], "no such folder"),
        (["{empty}"], "is not a result folder (no score.json)"),
        (["{good}", "--phase", "final"], "has no phase 'final'; its phases are public, private"),
        (["{good}", "{other_competition}"], "different competitions or phases"),
        (["{good}", "--bootstrap", "-1"], "non-negative"),
    ],
)
def test_bad_input_exits_2_with_one_line(results, tmp_path: Path, capsys, arguments, message):
    (tmp_path / "empty").mkdir()
    other = write_synthetic_result(tmp_path / "elsewhere", competition="digits", options=_NO_EXTRAS)
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "good": results["good"], "other_competition": other}
    filled = [argument.format(**paths) for argument in arguments]
    assert cli(["leaderboard", *filled, "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "board").exists()


def test_bootstrap_needs_the_stored_outputs(results, tmp_path: Path, capsys):
    copy = write_synthetic_result(tmp_path / "copy", name="copy", options=_NO_EXTRAS)
    (copy / "outputs.parquet").unlink()
    assert cli(["leaderboard", str(copy), "--bootstrap", "5", "--out", str(tmp_path)]) == 2
    assert "has no outputs.parquet; --bootstrap needs" in capsys.readouterr().err


# --- rank groups -----------------------------------------------------------------------------------
def _scored(name: str, score: float, samples: list[float], cutoff: float = 0.1) -> PhaseResult:
    """A scored result whose stored bootstrap samples are chosen, on one shared pool (paired)."""
    record = {
        "status": "scored", "score": score, "score_low": min(samples), "score_high": max(samples),
        "competition": "synthetic", "phase": "public", "phases": ["public"], "time_cutoff": cutoff,
        "submission": {"name": name}, "retrained_fingerprint": "pool",
        "bootstrap": {"resample": "examples", "n_resamples": len(samples), "seed": 0, "samples": samples},
    }
    return PhaseResult(Path(name), Path(name), record)


def test_neighbours_whose_order_the_bootstrap_does_not_settle_share_a_rank_group(tmp_path: Path):
    twenty = 20
    board = build_leaderboard([
        _scored("a", 1.0, [1.0] * twenty),
        # a keeps its order vs b in 19 of 20 resamples (95%): apart.
        _scored("b", 0.8, [0.8] * 19 + [1.2]),
        # b vs c: 18 of 20 (90%): one group; c vs d: 2 wins and 18 ties counting half (55%): the same group.
        _scored("c", 0.7, [0.9, 0.9] + [0.7] * 18),
        _scored("d", 0.7, [0.7] * twenty),
        # d vs e: 100%, e vs f: no samples to judge by and different scores: apart.
        _scored("e", 0.5, [0.5] * twenty),
        PhaseResult(Path("f"), Path("f"), {**_scored("f", 0.4, [0.4]).record, "bootstrap": None}),
        PhaseResult(Path("slow"), Path("slow"), {**_scored("slow", 0.0, [0.0]).record, "status": "over_time", "score": None}),
    ])
    kept = [row.order_kept_vs_next for row in board.rows]
    assert kept[:4] == [pytest.approx(0.95), pytest.approx(0.9), pytest.approx(0.55), 1.0]
    assert [(row.submission, row.rank_group) for row in board.rows] == [
        ("a", 1), ("b", 2), ("c", 2), ("d", 2), ("e", 3), ("f", 4), ("slow", None),
    ]
    markdown = to_markdown(board)
    assert "| rank | group | submission |" in markdown
    assert "| 2 | 2 | b | scored |" in markdown and "| 3 | 2 | c | scored |" in markdown and "| 7 |  | slow |" in markdown
    assert "fewer than 95% of the resamples share a rank group" in markdown
    csv_path, html_path = write_leaderboard(board, tmp_path)
    assert [row["rank_group"] for row in _read_csv(csv_path)] == ["1", "2", "2", "2", "3", "4", ""]
    assert "<th>group</th>" in html_path.read_text()


def test_rank_groups_come_from_real_bootstrap_samples(results, tmp_path: Path):
    board = build_leaderboard([load_phase_result(results[name]) for name in ("good", "leaky", "slow")])
    good, leaky, slow = board.rows
    assert good.order_kept_vs_next is not None
    assert (leaky.rank_group == good.rank_group) == (good.order_kept_vs_next < RANK_GROUP_ORDER_KEPT)
    assert good.rank_group == 1 and slow.rank_group is None


# --- time cutoffs ----------------------------------------------------------------------------------
def test_results_with_different_cutoffs_are_refused_naming_each_one(results, tmp_path: Path, capsys):
    lenient = write_synthetic_result(tmp_path / "lenient", name="lenient", time_cutoff=0.5, seed=4, options=_NO_EXTRAS)
    assert cli(["leaderboard", str(results["good"]), str(lenient), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different time cutoffs" in err and "--allow-mixed-cutoffs" in err
    assert f"{results['good']}: cutoff 10%" in err and f"{lenient}: cutoff 50%" in err
    assert not (tmp_path / "board").exists()


def test_mixed_cutoffs_are_ranked_on_request_with_each_cutoff_shown(results, tmp_path: Path, capsys):
    lenient = write_synthetic_result(tmp_path / "lenient", name="lenient", time_cutoff=0.5, unlearn_seconds=4.0, seed=4)
    folders = [str(results["good"]), str(results["slow"]), str(lenient)]
    assert cli(["leaderboard", *folders, "--allow-mixed-cutoffs", "--out", str(tmp_path / "board")]) == 0
    markdown = capsys.readouterr().out
    # "slow" took 40% of a retrain: over time at 10%, scored at 50%.
    assert "| time used | cutoff | order kept vs next |" in markdown and "MIXED TIME CUTOFFS" in markdown
    rows = {row["submission"]: row for row in _read_csv(tmp_path / "board" / "leaderboard.csv")}
    assert (rows["slow"]["status"], rows["slow"]["time_cutoff"]) == ("over_time", "0.1")
    assert (rows["lenient"]["status"], rows["lenient"]["time_cutoff"]) == ("scored", "0.5")
    assert "| 40.0% | 50% |" in markdown


def test_one_cutoff_needs_no_cutoff_column(results):
    markdown = to_markdown(build_leaderboard([load_phase_result(results[name]) for name in ("good", "leaky")]))
    assert "| cutoff |" not in markdown and "MIXED" not in markdown
