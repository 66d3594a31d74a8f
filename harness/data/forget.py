"""Which training examples a phase forgets: the competition's forget rule applied to the train split."""

from __future__ import annotations

import numpy as np

from harness.config.competition import Competition
from harness.errors import ConfigError, DataError


def forget_mask(competition: Competition, phase: str, labels: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Boolean mask over the training examples (in manifest order) of those to forget in `phase`."""
    rule = competition.forget
    seed = competition.phase(phase).forget_seed
    n = len(labels)
    if rule.kind == "random":
        count = int(round(rule.fraction * n))
        mask = np.zeros(n, dtype=bool)
        mask[np.random.default_rng(seed).choice(n, size=count, replace=False)] = True
    elif rule.kind == "class":
        mask = np.asarray(labels) == competition.forget_class(phase)
    else:
        mask = _group_mask(competition, groups, rule.n_groups, rule.selection, seed)
    if not mask.any() or mask.all():
        what = "no" if not mask.any() else "every"
        raise DataError(
            f"competition {competition.name!r}, phase {phase!r}: the forget rule selects {what} training example "
            f"({n} in the train split); check the forget settings against the data"
        )
    return mask


def _group_mask(competition: Competition, groups: np.ndarray | None, n_groups: int, selection: str, seed: int) -> np.ndarray:
    if groups is None:
        raise ConfigError(f"competition {competition.name!r}: forget.kind = \"groups\" needs a dataset with groups")
    groups = np.asarray(groups)
    unique = np.unique(groups)
    if n_groups >= len(unique):
        raise DataError(
            f"competition {competition.name!r}: forget.n_groups = {n_groups} but the train split has only "
            f"{len(unique)} groups; at least one group must stay in the retain set"
        )
    if selection == "first":
        from sklearn.model_selection import LeavePGroupsOut

        # The 2023 rule: the first split of LeavePGroupsOut, i.e. the n_groups smallest group ids.
        _, forget_rows = next(LeavePGroupsOut(n_groups=n_groups).split(np.zeros((len(groups), 1)), None, groups))
        mask = np.zeros(len(groups), dtype=bool)
        mask[forget_rows] = True
        return mask
    chosen = np.random.default_rng(seed).choice(unique, size=n_groups, replace=False)
    return np.isin(groups, chosen)
