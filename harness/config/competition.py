"""A competition as the harness hands it around: frozen dataclasses, already valid.

What data, which split, what to forget, how to train, how long unlearning may take, what the sandbox
allows. The strict reader (harness.config.reader) builds them from a TOML file and is the only place
that checks them; everything downstream (datasets, manifests, the retrain pool, the sandbox) reads
its settings from here and nowhere else. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.config.packages import DEFAULT_PACKAGES
from harness.errors import ConfigError
from harness.sandbox.limits import SandboxLimits

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine")
AUGMENTATIONS = ("none", "flip_crop")
FORGET_KINDS = ("random", "class", "groups")
GROUP_SELECTIONS = ("first", "seeded")


@dataclass(frozen=True)
class TrainingRecipe:
    """How the original and every retrained model are trained (harness.training.trainer reads this)."""

    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"
    # CosineAnnealingLR's T_max in epochs; None means `epochs`. Stepped once per epoch, as the 2023 code.
    schedule_t_max: int | None = None
    class_weighted: bool = False
    # Keep the weights of the best validation epoch among epochs >= this (0-based); None keeps the last.
    best_val_from_epoch: int | None = None
    label_smoothing: float = 0.0
    augmentation: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SplitSettings:
    """How the dataset's examples become train/val/test. Each dataset documents its reading of these."""

    seed: int
    train: float | None = None
    val: float | None = None
    test: float | None = None


@dataclass(frozen=True)
class ForgetRule:
    """Which training examples form the forget set.

    random: a seeded `fraction` of the training set. class: every training example of `class_index`.
    groups: every training example of `n_groups` groups (people); `selection = "first"` is the first
    split of sklearn's LeavePGroupsOut (the 2023 rule), "seeded" draws the groups with the phase seed.
    """

    kind: str
    fraction: float | None = None
    class_index: int | None = None
    n_groups: int | None = None
    selection: str = "first"


@dataclass(frozen=True)
class Phase:
    """One evaluation split of a leaderboard: its own forget set, hence its own original model and pool."""

    name: str
    forget_seed: int = 0
    forget_class: int | None = None  # overrides ForgetRule.class_index for kind = "class"


@dataclass(frozen=True)
class Competition:
    """A validated competition configuration (see harness/config/competitions/*.toml for the fields)."""

    name: str
    description: str
    dataset: str
    split: SplitSettings
    forget: ForgetRule
    architecture: str
    num_classes: int
    in_channels: int
    recipe: TrainingRecipe
    phases: tuple[Phase, ...]
    n_models: int = 32
    time_cutoff: float = 0.10  # unlearning time allowed per run, as a fraction of one retrain
    batch_format: str = "tuple"
    batch_size: int = 64
    seed: int = 0  # base of every model-training seed (original and retrained)
    allow_unsandboxed: bool = False
    # The distributions submission code may import (harness.config.packages); the sandbox refuses others.
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    # What one sandbox may use: the file's optional [sandbox] table over SandboxLimits' defaults.
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    source: Path | None = field(default=None, compare=False)

    @property
    def phase_names(self) -> list[str]:
        return [phase.name for phase in self.phases]

    def phase(self, name: str) -> Phase:
        """The phase called `name`, or a ConfigError listing the phases this competition has."""
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise ConfigError(
            f"competition {self.name!r} has no phase {name!r}; its phases are: {', '.join(self.phase_names)}"
        )

    def forget_class(self, phase: str) -> int | None:
        """The class forgotten in `phase` for kind = "class" (the phase may override the rule's class)."""
        chosen = self.phase(phase).forget_class
        return self.forget.class_index if chosen is None else chosen

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) describing the competition; `source` is left out."""
        data = asdict(self)
        data.pop("source")
        data["phases"] = [asdict(phase) for phase in self.phases]
        return data

    def fingerprint_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
