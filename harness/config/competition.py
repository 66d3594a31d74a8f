"""Competitions as declarative TOML files: what data, which split, what to forget, how to train.

A competition is loaded by name (a file shipped in harness/config/competitions/) or by path, validated
once at this boundary, and handed around as a frozen `Competition`. Everything downstream (datasets,
manifests, the retrain pool, the sandbox) reads its settings from here and nowhere else.
Importing this module is cheap; loading a competition imports torch (through harness.training.architectures and
harness.data) to validate the architecture and batch format against the real lists.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from harness.errors import ConfigError
from harness.config.packages import DEFAULT_PACKAGES

if TYPE_CHECKING:
    from harness.config.datasets import DatasetInfo

COMPETITIONS_DIR = Path(__file__).parent / "competitions"

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


def list_competitions() -> list[str]:
    """Names of the competitions shipped with the harness, sorted."""
    return sorted(path.stem for path in COMPETITIONS_DIR.glob("*.toml"))


def load_competition(name_or_path: str | Path | Competition) -> Competition:
    """Load and validate a competition by shipped name (e.g. "digits") or by path to a TOML file.

    Raises ConfigError naming the file and the offending key for unknown keys, missing keys,
    wrong types, out-of-range values, or an unknown dataset or architecture.
    """
    if isinstance(name_or_path, Competition):
        return name_or_path
    path = _resolve_path(name_or_path)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the competition file: {error.strerror}") from None
    return _parse(raw, path)


def _resolve_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"competition file {path} does not exist")
        return path
    shipped = COMPETITIONS_DIR / f"{text}.toml"
    if not shipped.is_file():
        known = ", ".join(list_competitions()) or "(none)"
        raise ConfigError(f"unknown competition {text!r}; shipped competitions: {known} (or pass a path to a .toml file)")
    return shipped


# ---------------------------------------------------------------------------------------------
# Validation. A small typed reader keeps every error message of the form "<file>: <key>: <problem>".


class _Table:
    """Reads one TOML table, tracking which keys were used so the rest can be reported as unknown."""

    def __init__(self, raw: Mapping[str, Any], where: str, path: Path):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: {where} must be a table, got {type(raw).__name__}")
        self.raw, self.where, self.path, self.used = raw, where, path, set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self._key(key)}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, choices: tuple | None = None) -> Any:
        self.used.add(key)
        if key not in self.raw:
            if default is ...:
                raise self.fail(key, "missing (required)")
            return default
        value = self.raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is a subclass of int in Python; TOML distinguishes them, and so do we.
        accepted = any(
            (isinstance(value, k) and not (isinstance(value, bool) and k is not bool))
            or (k is float and isinstance(value, int) and not isinstance(value, bool))
            for k in kinds
        )
        if not accepted:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(key, f"must be {names}, got {type(value).__name__} {value!r}")
        if float in kinds and isinstance(value, int) and int not in kinds:
            value = float(value)
        if choices is not None and value not in choices:
            raise self.fail(key, f"unknown value {value!r}; choose one of: {', '.join(map(str, choices))}")
        return value

    def positive(self, key: str, kind: type, default: Any = ...) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be > 0, got {value!r}")
        return value

    def fraction(self, key: str, default: Any = ...) -> float | None:
        value = self.get(key, float, default)
        if value is not None and not 0.0 < value < 1.0:
            raise self.fail(key, f"must be a fraction strictly between 0 and 1, got {value!r}")
        return value

    def table(self, key: str, default: Any = ...) -> "_Table | None":
        self.used.add(key)
        if key not in self.raw:
            if default is ...:
                raise self.fail(key, "missing (required table)")
            return default
        return _Table(self.raw[key], self._key(key), self.path)

    def finish(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise ConfigError(f"{self.path}: unknown key(s) {', '.join(self._key(k) for k in unknown)}; known keys here: {known}")


def _parse(raw: Mapping[str, Any], path: Path) -> Competition:
    from harness.config.datasets import DATASETS

    top = _Table(raw, "", path)
    name = top.get("name", str)
    dataset = top.get("dataset", str)
    if dataset not in DATASETS:
        raise top.fail("dataset", f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
    architecture = top.get("architecture", str)
    _check_architecture(top, architecture)
    num_classes = top.positive("num_classes", int)
    in_channels = top.positive("in_channels", int)
    info = DATASETS[dataset]
    if (num_classes, in_channels) != (info.num_classes, info.in_channels):
        raise top.fail(
            "num_classes",
            f"dataset {dataset!r} has {info.num_classes} classes and {info.in_channels} input channels, "
            f"but the file says num_classes = {num_classes}, in_channels = {in_channels}",
        )
    forget = _parse_forget(top.table("forget"), num_classes)
    competition = Competition(
        name=name,
        description=top.get("description", str, ""),
        dataset=dataset,
        split=_parse_split(top.table("split"), info.split_keys, dataset),
        forget=forget,
        architecture=architecture,
        num_classes=num_classes,
        in_channels=in_channels,
        recipe=_parse_recipe(top.table("recipe")),
        phases=_parse_phases(top.table("phases", None), path, forget, num_classes),
        n_models=top.positive("n_models", int, 32),
        time_cutoff=_time_cutoff(top),
        batch_format=_batch_format(top, info),
        batch_size=top.positive("batch_size", int, 64),
        seed=top.get("seed", int, 0),
        allow_unsandboxed=top.get("allow_unsandboxed", bool, False),
        packages=_packages(top),
        source=path,
    )
    top.finish()
    if forget.kind == "groups" and not info.has_groups:
        raise top.fail("forget.kind", f"dataset {dataset!r} has no groups; use kind = \"random\" or \"class\"")
    return competition


def _batch_format(top: _Table, info: "DatasetInfo") -> str:
    from harness.config.batch_formats import BATCH_FORMATS, KAGGLE_DICT, RENAMED, TUPLE
    from harness.config.datasets import DATASETS

    value = top.get("batch_format", str, TUPLE)
    if value in RENAMED:
        raise top.fail("batch_format", f"{value!r} is now called {RENAMED[value]!r}; write batch_format = \"{RENAMED[value]}\"")
    if value not in BATCH_FORMATS:
        raise top.fail("batch_format", f"unknown value {value!r}; choose one of: {', '.join(BATCH_FORMATS)}")
    if value == KAGGLE_DICT and not info.has_kaggle_fields:
        serving = ", ".join(name for name, other in DATASETS.items() if other.has_kaggle_fields)
        raise top.fail("batch_format", f"dataset {info.name!r} records no ages and person ids for {KAGGLE_DICT!r} batches; datasets that do: {serving}")
    return value


def _packages(top: _Table) -> tuple[str, ...]:
    from harness.config.packages import IMPORT_NAMES, REQUIRED_PACKAGES, canonical_name

    value = top.get("packages", list, list(DEFAULT_PACKAGES))
    packages = []
    for item in value:
        if not isinstance(item, str):
            raise top.fail("packages", f"must be a list of distribution names (strings), got {item!r}")
        try:
            name = canonical_name(item)
        except KeyError:
            raise top.fail("packages", f"unknown package {item!r}; the sandbox environment has: {', '.join(IMPORT_NAMES)}") from None
        if name in packages:
            raise top.fail("packages", f"{item!r} is listed twice")
        packages.append(name)
    missing = [name for name in REQUIRED_PACKAGES if name not in packages]
    if missing:
        raise top.fail("packages", f"must include {', '.join(missing)} (the network a submission receives is a torch module)")
    return tuple(packages)


def _check_architecture(top: _Table, architecture: str) -> None:
    from harness.training.architectures import ARCHITECTURES

    if architecture not in ARCHITECTURES:
        raise top.fail("architecture", f"unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}")


def time_cutoff_problem(value: Any) -> str | None:
    """Why `value` cannot be a time cutoff, or None when it can: the one rule for competition
    files and --time-cutoff alike. A cutoff is the allowed unlearning time as a fraction of one
    retrain: positive and finite; above 1 is allowed (e.g. tests that must never run over time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return f"must be a positive, finite fraction of one retrain (e.g. 0.1; above 1 allows more than a retrain), got {value!r}"
    return None


def _time_cutoff(top: _Table) -> float:
    value = top.get("time_cutoff", float, 0.10)
    problem = time_cutoff_problem(value)
    if problem:
        raise top.fail("time_cutoff", problem)
    return value


def _parse_split(table: _Table, keys: tuple[str, ...], dataset: str) -> SplitSettings:
    split = SplitSettings(
        seed=table.get("seed", int),
        train=table.fraction("train", None),
        val=table.fraction("val", None),
        test=table.fraction("test", None),
    )
    table.finish()
    fractions = {key: getattr(split, key) for key in ("train", "val", "test")}
    for key, value in fractions.items():
        if key in keys and value is None:
            raise table.fail(key, f"missing (dataset {dataset!r} needs the fractions {', '.join(keys)})")
        if key not in keys and value is not None:
            raise table.fail(key, f"not used by dataset {dataset!r}, which reads only {', '.join(keys)}")
    total = sum(fractions[key] for key in keys)
    if abs(total - 1.0) > 1e-9:
        raise table.fail(keys[0], f"{' + '.join(keys)} must add up to 1, got {total:g}")
    return split


def _parse_forget(table: _Table, num_classes: int) -> ForgetRule:
    kind = table.get("kind", str, choices=FORGET_KINDS)
    if kind == "random":
        rule = ForgetRule(kind, fraction=table.fraction("fraction"))
    elif kind == "class":
        class_index = table.get("class_index", int, 0)
        if not 0 <= class_index < num_classes:
            raise table.fail("class_index", f"must be a class in [0, {num_classes}), got {class_index}")
        rule = ForgetRule(kind, class_index=class_index)
    else:
        rule = ForgetRule(
            kind,
            n_groups=table.positive("n_groups", int),
            selection=table.get("selection", str, "first", choices=GROUP_SELECTIONS),
        )
    table.finish()
    return rule


def _parse_recipe(table: _Table) -> TrainingRecipe:
    epochs = table.positive("epochs", int)
    recipe = TrainingRecipe(
        optimizer=table.get("optimizer", str, choices=OPTIMIZERS),
        lr=table.positive("lr", float),
        epochs=epochs,
        batch_size=table.positive("batch_size", int),
        momentum=table.get("momentum", float, 0.0),
        nesterov=table.get("nesterov", bool, False),
        weight_decay=table.get("weight_decay", float, 0.0),
        schedule=table.get("schedule", str, "cosine", choices=SCHEDULES),
        schedule_t_max=table.positive("schedule_t_max", int, None),
        class_weighted=table.get("class_weighted", bool, False),
        best_val_from_epoch=table.get("best_val_from_epoch", int, None),
        label_smoothing=table.get("label_smoothing", float, 0.0),
        augmentation=table.get("augmentation", str, "none", choices=AUGMENTATIONS),
    )
    table.finish()
    if not 0.0 <= recipe.momentum < 1.0:
        raise table.fail("momentum", f"must be in [0, 1), got {recipe.momentum}")
    if recipe.nesterov and (recipe.optimizer != "sgd" or recipe.momentum == 0.0):
        raise table.fail("nesterov", "needs optimizer = \"sgd\" and momentum > 0")
    if recipe.weight_decay < 0:
        raise table.fail("weight_decay", f"must be >= 0, got {recipe.weight_decay}")
    if not 0.0 <= recipe.label_smoothing < 1.0:
        raise table.fail("label_smoothing", f"must be in [0, 1), got {recipe.label_smoothing}")
    if recipe.best_val_from_epoch is not None and not 0 <= recipe.best_val_from_epoch < epochs:
        raise table.fail("best_val_from_epoch", f"must be a 0-based epoch in [0, {epochs}), got {recipe.best_val_from_epoch}")
    return recipe


def _parse_phases(table: _Table | None, path: Path, forget: ForgetRule, num_classes: int) -> tuple[Phase, ...]:
    if table is None:
        return (Phase("public"),)
    phases = []
    for phase_name in table.raw:
        entry = table.table(phase_name)
        phase = Phase(
            name=phase_name,
            forget_seed=entry.get("forget_seed", int, 0),
            forget_class=entry.get("forget_class", int, None),
        )
        entry.finish()
        if phase.forget_class is not None:
            if forget.kind != "class":
                raise entry.fail("forget_class", "only applies to forget.kind = \"class\"")
            if not 0 <= phase.forget_class < num_classes:
                raise entry.fail("forget_class", f"must be a class in [0, {num_classes}), got {phase.forget_class}")
        phases.append(phase)
    if not phases:
        raise ConfigError(f"{path}: phases: declare at least one phase, e.g. [phases.public]")
    return tuple(phases)
