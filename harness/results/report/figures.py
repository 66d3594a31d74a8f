"""The report's plots, each a matplotlib Figure built without pyplot (no global state, Agg only).

Every function takes plain arrays or score.json values, so reports and leaderboards can draw
from stored results without re-scoring.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

RETRAINED_COLOUR = "#4c72b0"
UNLEARNED_COLOUR = "#dd8452"
REFERENCE_COLOUR = "#55a868"
LIMIT_COLOUR = "#c44e52"


def epsilon_histogram(epsilons: np.ndarray, buckets: Sequence[Mapping[str, float]]) -> Figure:
    """Per-example epsilon against the scoring buckets: where each example lands and what it earns.

    `buckets` are score.json's epsilon buckets ({low, high, points}). Examples at or beyond the
    last bucket (including the capped ones at 50) earn nothing and are drawn in one bar at the
    right edge, labelled with their count.
    """
    figure = Figure(figsize=(9, 3.8))
    axes = figure.add_subplot()
    top = buckets[-1]["high"] if buckets else 1.0
    beyond = int(np.sum(epsilons >= top))
    bins = np.linspace(0.0, top, int(round(top / 0.1)) + 1)
    for index, bucket in enumerate(buckets):
        # Alternate shading makes the bucket boundaries readable at a glance.
        axes.axvspan(bucket["low"], bucket["high"], color="#000000", alpha=0.04 if index % 2 else 0.0, lw=0)
    axes.hist(epsilons[epsilons < top], bins=bins, color=UNLEARNED_COLOUR, alpha=0.85, label="forget examples")
    overflow_width = 0.5
    axes.bar(top + overflow_width / 2 + 0.1, beyond, width=overflow_width, color=LIMIT_COLOUR, alpha=0.85,
             label=f"\u2265 {top:g}: 0 points")
    axes.annotate(f"{beyond}", (top + overflow_width / 2 + 0.1, beyond), ha="center", va="bottom", fontsize=8)
    y_top = axes.get_ylim()[1] * 1.12
    axes.set_ylim(0, y_top)
    for bucket in buckets:
        axes.axvline(bucket["low"], color="#888888", lw=0.6, ls=":")
        axes.text((bucket["low"] + bucket["high"]) / 2, y_top * 0.97, _points_label(bucket["points"]),
                  ha="center", va="top", fontsize=7, color="#444444")
    axes.set_xlim(0, top + overflow_width + 0.2)
    axes.set_xlabel("per-example epsilon (bucket points shown at the top)")
    axes.set_ylabel("forget examples")
    axes.legend(loc="center right", fontsize=8, frameon=False)
    _tidy(axes)
    return figure


def worst_examples(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    epsilons: np.ndarray,
    *,
    count: int = 8,
) -> Figure:
    """For the highest-epsilon examples, the retrained and unlearned confidence distributions side by side.

    `unlearned` and `retrained` are [N, E] confidences; each example gets a pair of violins
    (retrained left, unlearned right) with every model drawn as a dot, numbered by rank.
    """
    order = np.argsort(-epsilons, kind="stable")[:count]
    figure = Figure(figsize=(9, 3.8))
    axes = figure.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: the same outputs always give the same picture
    for slot, example in enumerate(order):
        pair = ((-0.2, retrained[:, example], RETRAINED_COLOUR), (0.2, unlearned[:, example], UNLEARNED_COLOUR))
        for offset, values, colour in pair:
            position = slot + offset
            if np.ptp(values) > 0:
                parts = axes.violinplot(values, positions=[position], widths=0.35, showextrema=False)
                for body in parts["bodies"]:
                    body.set_facecolor(colour)
                    body.set_alpha(0.35)
            jitter = rng.uniform(-0.06, 0.06, size=values.size)
            axes.scatter(position + jitter, values, s=6, color=colour, alpha=0.8, lw=0)
    axes.set_xticks(range(len(order)))
    # Ids are listed in the report's table under the same numbers; they are too long for ticks.
    axes.set_xticklabels([f"#{rank}\n\u03b5={epsilons[i]:.2f}" for rank, i in enumerate(order, start=1)], fontsize=8)
    axes.set_ylabel("logit-scaled confidence \u03c6")
    axes.scatter([], [], color=RETRAINED_COLOUR, label="retrained (reference)")
    axes.scatter([], [], color=UNLEARNED_COLOUR, label="unlearned")
    axes.legend(fontsize=8, frameon=False, loc="best")
    _tidy(axes)
    return figure


def accuracy_comparison(per_model: Mapping[str, Mapping[str, np.ndarray]]) -> Figure:
    """Retain/test/forget accuracy of unlearned vs retrained models: means as bars, models as dots.

    `per_model` maps "retain"/"test"/"forget" to {"retrained": array, "unlearned": array}.
    """
    figure = Figure(figsize=(7, 3.4))
    axes = figure.add_subplot()
    rng = np.random.default_rng(0)
    names = list(per_model)
    for slot, name in enumerate(names):
        for offset, kind, colour in ((-0.2, "retrained", RETRAINED_COLOUR), (0.2, "unlearned", UNLEARNED_COLOUR)):
            values = np.asarray(per_model[name].get(kind, []), dtype=np.float64)
            values = values[~np.isnan(values)]
            if not values.size:
                continue
            mean = float(values.mean())
            axes.bar(slot + offset, mean, width=0.38, color=colour, alpha=0.55,
                     label=kind if slot == 0 else None)
            axes.scatter(slot + offset + rng.uniform(-0.1, 0.1, values.size), values, s=5, color=colour, lw=0)
            axes.text(slot + offset, mean + 0.02, f"{mean:.3f}", ha="center", fontsize=8)
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels([f"{name} accuracy" for name in names])
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    _tidy(axes)
    return figure


def time_budget(clocks: Sequence[tuple[str, float | None, float]], cutoff: float) -> Figure:
    """Seconds per model on each clock, one panel each: unlearning against the limit (cutoff x one
    retrain) and the retrain itself. `clocks` is [(title, unlearn seconds or None, retrain seconds)],
    the charged clock first: only its limit applies (others are drawn for comparison, never red)."""
    figure = Figure(figsize=(7, 2.2 * len(clocks)))
    for panel, (title, unlearn_seconds, retrain_seconds) in enumerate(clocks, start=1):
        axes = figure.add_subplot(len(clocks), 1, panel)
        limit = cutoff * retrain_seconds
        labels = ["retrain one model\n(reference)", "unlearning\n(one run)"]
        values = [retrain_seconds, unlearn_seconds or 0.0]
        charged = panel == 1
        over = charged and (unlearn_seconds or 0.0) > limit
        colours = [RETRAINED_COLOUR, LIMIT_COLOUR if over else UNLEARNED_COLOUR]
        axes.barh(labels, values, color=colours, alpha=0.8)
        axes.axvline(limit, color=LIMIT_COLOUR, ls="--" if charged else ":", lw=1.5)
        label = f" limit {100 * cutoff:g}% = {limit:.3g} s" + ("" if charged else " (not applied)")
        axes.text(limit, 1.45, label, color=LIMIT_COLOUR, fontsize=8, va="bottom")
        for row, value in enumerate(values):
            text = "not measured" if row == 1 and unlearn_seconds is None else f" {value:.3g} s"
            axes.text(value, row, text, va="center", fontsize=8)
        axes.set_xlim(0, max(values + [limit]) * 1.25)
        axes.set_ylim(-0.6, 1.9)
        axes.set_title(title, fontsize=9, loc="left")
        axes.set_xlabel("seconds per model")
        _tidy(axes)
    figure.tight_layout()
    return figure


def calibration(forget_quality: float | None, reference: Mapping[str, object]) -> Figure:
    """The run's forgetting quality beside what a perfect unlearner scores (retrained vs retrained).

    `reference` is score.json's calibration: {forget_quality, spread, samples}; the reference is
    drawn as its splits (dots) and mean +- one standard deviation.
    """
    figure = Figure(figsize=(7, 2.0))
    axes = figure.add_subplot()
    samples = np.asarray(reference.get("samples") or [], dtype=np.float64)
    if samples.size:
        axes.scatter(samples, np.full(samples.size, 1.0), color=REFERENCE_COLOUR, alpha=0.5, s=14)
    mean, spread = reference.get("forget_quality"), reference.get("spread") or 0.0
    if mean is not None:
        axes.errorbar([mean], [1.0], xerr=[spread], fmt="D", color=REFERENCE_COLOUR, capsize=4, ms=7)
    if forget_quality is not None:
        axes.plot([forget_quality], [0.0], "o", color=UNLEARNED_COLOUR, ms=8)
        axes.annotate(f"{forget_quality:.3f}", (forget_quality, 0.0), xytext=(0, 8), textcoords="offset points",
                      ha="center", fontsize=8)
    axes.set_yticks([0.0, 1.0])
    axes.set_yticklabels(["this submission", "perfect unlearner\n(retrained vs retrained)"])
    axes.set_ylim(-0.6, 1.6)
    axes.set_xlim(0, 1)
    axes.set_xlabel("forgetting quality F")
    _tidy(axes)
    return figure


def score_intervals(
    names: Sequence[str],
    scores: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
) -> Figure:
    """A leaderboard's scored entries, best at the top, with their bootstrap intervals."""
    figure = Figure(figsize=(8, 0.45 * len(names) + 1.2))
    axes = figure.add_subplot()
    rows = np.arange(len(names))[::-1]
    for row, score, low, high in zip(rows, scores, lows, highs):
        if low is not None and high is not None:
            axes.plot([low, high], [row, row], color="#333333", lw=1.5)
        axes.plot([score], [row], "o", color=UNLEARNED_COLOUR, ms=7)
    axes.set_yticks(rows)
    axes.set_yticklabels([_short(name, 30) for name in names], fontsize=8)
    axes.set_xlabel("score (bars: bootstrap interval)")
    axes.set_xlim(left=0)
    _tidy(axes)
    return figure


def _points_label(points: float) -> str:
    if points >= 1:
        return "1"
    if points <= 0:
        return "0"
    return f"1/{round(1 / points)}"


def _short(text: str, width: int = 14) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _tidy(axes) -> None:
    axes.spines["top"].set_visible(False)
    axes.spines["right"].set_visible(False)
