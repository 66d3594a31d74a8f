"""Competitions as declarative TOML files, read once into frozen dataclasses, and the name registries.

    competition = load_competition("digits")          # or a path to your own .toml

Standard library only: loading a competition never imports torch. The registries
(harness.config.registry: datasets, architectures) name what a competition may refer to; the code
behind each name is imported only when it is used.
"""

from harness.config.competition import Competition, ForgetRule, Phase, SplitSettings, TrainingRecipe
from harness.config.reader import COMPETITIONS_DIR, list_competitions, load_competition

__all__ = [
    "COMPETITIONS_DIR",
    "Competition",
    "ForgetRule",
    "Phase",
    "SplitSettings",
    "TrainingRecipe",
    "list_competitions",
    "load_competition",
]
