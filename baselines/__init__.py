"""Unlearning baselines; every module here is itself a valid submission (one `unlearn`).

BASELINES is their registry (harness.config.registry): each entry names its module and declares the
forget sets it supports, so that `unlearn-harness reproduce` runs a baseline only where it applies
(class unlearning needs a class). The harness never imports a baseline: like any submission, it
runs only inside the sandbox. Importing this package imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.competition import FORGET_KINDS
from harness.config.registry import Registry

BASELINES_DIR = Path(__file__).resolve().parent
CLASS = ("class",)  # what class unlearning supports: a forget set that is one whole class


@dataclass(frozen=True)
class BaselineInfo:
    name: str
    description: str
    forget_kinds: tuple[str, ...] = FORGET_KINDS  # harness.config.competition.FORGET_KINDS it supports

    @property
    def target(self) -> str:
        return f"{__name__}.{self.name}"

    @property
    def path(self) -> Path:
        """The submission file the harness runs (in the sandbox, never here)."""
        return BASELINES_DIR / f"{self.name}.py"


BASELINES: Registry[BaselineInfo] = Registry("baseline", [
    BaselineInfo("finetune", "fine-tuning on the retain set, the 2023 Kaggle notebook's recipe"),
    BaselineInfo("finetune_starting_kit", "fine-tuning on the retain set, the 2023 starting kit's recipe"),
    BaselineInfo("neggrad_plus", "NegGrad+: ascent on the forget set, descent on the retain set"),
    BaselineInfo("random_labels", "the forget set trained towards random labels"),
    BaselineInfo("retrain", "retraining from scratch: the reference, over the time cutoff by design"),
    BaselineInfo("scrub", "SCRUB: max-min distillation from the original model"),
    BaselineInfo("svd_class_unlearning", "gradient-free class unlearning (Kodge et al.)", forget_kinds=CLASS),
    BaselineInfo("winner1_kl_adversarial", "1st place of the 2023 challenge"),
    BaselineInfo("winner2_reinit_grad", "2nd place of the 2023 challenge"),
    BaselineInfo("winner4_prune", "4th place of the 2023 challenge"),
    BaselineInfo("winner5_transpose", "5th place of the 2023 challenge"),
    BaselineInfo("winner6_reset_kl", "6th place of the 2023 challenge"),
    BaselineInfo("winner7_noise", "7th place of the 2023 challenge"),
    BaselineInfo("winner8_reinit_mse", "8th place of the 2023 challenge"),
])
