"""Competitions as declarative TOML files, read once into frozen dataclasses, and the name registries.

Standard library only: loading a competition never imports torch. The registries (datasets,
architectures) name what a competition may refer to; the code behind each name is imported only
when it is used (harness.config.registry).
"""

from harness.config.competition import (
    COMPETITIONS_DIR,
    Competition,
    ForgetRule,
    Phase,
    SplitSettings,
    TrainingRecipe,
    list_competitions,
    load_competition,
)

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
