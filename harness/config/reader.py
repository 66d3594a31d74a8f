"""The strict reader of competition files: TOML in, a valid frozen `Competition` out, or one clear error.

A competition is loaded by name (a file shipped in harness/config/competitions/) or by path and
checked once, here: every error names the file, the key and the problem ("<file>: <key>: <problem>"),
unknown keys included. Names are checked against the torch-free registries (harness.config.datasets,
harness.config.architectures), so loading a competition never imports torch.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

from harness.config.architectures import ARCHITECTURES
from harness.config.batch_formats import BATCH_FORMATS, KAGGLE_DICT, RENAMED, TUPLE
from harness.config.checks import MIN_SCORED_MODELS, count_problem, time_cutoff_problem
from harness.config.competition import (
    AUGMENTATIONS,
    FORGET_KINDS,
    GROUP_SELECTIONS,
    OPTIMIZERS,
    SCHEDULES,
    Competition,
    ForgetRule,
    Phase,
    SplitSettings,
    TrainingRecipe,
)
from harness.config.datasets import DATASETS, DatasetInfo
from harness.config.packages import DEFAULT_PACKAGES, IMPORT_NAMES, REQUIRED_PACKAGES, canonical_name
from harness.errors import ConfigError
from harness.sandbox.limits import COMPETITION_LIMITS, SandboxLimits

COMPETITIONS_DIR = Path(__file__).parent / "competitions"


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
    top = _Table(raw, "", path)
    name = top.get("name", str)
    dataset = top.get("dataset", str)
    if dataset not in DATASETS:
        raise top.fail("dataset", DATASETS.unknown(dataset))
    architecture = top.get("architecture", str)
    if architecture not in ARCHITECTURES:
        raise top.fail("architecture", ARCHITECTURES.unknown(architecture))
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
        n_models=_n_models(top),
        time_cutoff=_time_cutoff(top),
        batch_format=_batch_format(top, info),
        batch_size=top.positive("batch_size", int, 64),
        seed=top.get("seed", int, 0),
        allow_unsandboxed=top.get("allow_unsandboxed", bool, False),
        packages=_packages(top),
        sandbox=_parse_sandbox(top.table("sandbox", None)),
        source=path,
    )
    top.finish()
    if forget.kind == "groups" and not info.has_groups:
        raise top.fail("forget.kind", f"dataset {dataset!r} has no groups; use kind = \"random\" or \"class\"")
    return competition


def _batch_format(top: _Table, info: DatasetInfo) -> str:
    value = top.get("batch_format", str, TUPLE)
    if value in RENAMED:
        raise top.fail("batch_format", f"{value!r} is now called {RENAMED[value]!r}; write batch_format = \"{RENAMED[value]}\"")
    if value not in BATCH_FORMATS:
        raise top.fail("batch_format", f"unknown value {value!r}; choose one of: {', '.join(BATCH_FORMATS)}")
    if value == KAGGLE_DICT and not info.has_kaggle_fields:
        serving = ", ".join(other.name for other in DATASETS if other.has_kaggle_fields)
        raise top.fail("batch_format", f"dataset {info.name!r} records no ages and person ids for {KAGGLE_DICT!r} batches; datasets that do: {serving}")
    return value


def _packages(top: _Table) -> tuple[str, ...]:
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


def _n_models(top: _Table) -> int:
    value = top.get("n_models", int, 32)
    problem = count_problem(value, MIN_SCORED_MODELS)
    if problem:
        raise top.fail("n_models", f"{problem} (the metric compares populations of models)")
    return value


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


def _parse_sandbox(table: _Table | None) -> SandboxLimits:
    """The [sandbox] table: any of SandboxLimits' resource and time limits, over its defaults.

    What the machine decides (its cores, the Docker image and runtime) is not a competition's to set.
    """
    if table is None:
        return SandboxLimits()
    kinds = {limit.name: (int if limit.type == "int" else float) for limit in fields(SandboxLimits) if limit.name in COMPETITION_LIMITS}
    values = {key: table.positive(key, kind) for key, kind in kinds.items() if key in table.raw}
    table.used |= set(kinds)  # the known keys, for the message about unknown ones
    table.finish()
    try:
        return SandboxLimits(**values)
    except ConfigError as error:
        raise ConfigError(f"{table.path}: sandbox: {error}") from None
