"""Competitions as TOML: the shipped ones load with the settings they promise; bad files fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.config import COMPETITIONS_DIR, Competition, TrainingRecipe, list_competitions, load_competition
from harness.errors import ConfigError
from harness.sandbox.limits import SandboxLimits

SHIPPED = ["cifar10", "cifar10-class", "digits", "digits-class", "digits-kaggle", "surf"]


def test_shipped_competitions_are_listed_and_load():
    assert list_competitions() == SHIPPED
    for name in SHIPPED:
        competition = load_competition(name)
        assert isinstance(competition, Competition)
        assert competition.name == name
        assert competition.source == COMPETITIONS_DIR / f"{name}.toml"
        assert isinstance(competition.recipe, TrainingRecipe)
        assert competition.phase_names[0] == "public"


def test_digits_is_a_quick_default_with_public_and_private_forget_sets():
    digits = load_competition("digits")
    assert (digits.dataset, digits.architecture, digits.num_classes, digits.in_channels) == ("digits", "small_cnn", 10, 1)
    assert digits.time_cutoff == 0.10
    assert digits.forget.kind == "random" and digits.forget.fraction == 0.1
    assert digits.phase_names == ["public", "private"]
    assert digits.phase("public").forget_seed != digits.phase("private").forget_seed
    # The 2023 budget in retain epochs: about 20% of a 30-epoch recipe then, 10% of 60 here.
    assert digits.recipe.epochs * digits.time_cutoff == pytest.approx(6)
    assert digits.allow_unsandboxed is True


def test_class_competitions_forget_a_class_per_phase():
    digits_class = load_competition("digits-class")
    assert digits_class.forget.kind == "class"
    assert digits_class.forget_class("public") == 3
    assert digits_class.forget_class("private") == 8
    assert load_competition("cifar10-class").forget_class("public") == 5
    assert digits_class.recipe == load_competition("digits").recipe and digits_class.time_cutoff == 0.10


def test_surf_follows_the_official_2023_recipe():
    surf = load_competition("surf")
    recipe = surf.recipe
    assert (recipe.optimizer, recipe.lr, recipe.weight_decay) == ("adam", 1e-4, 5e-3)
    assert (recipe.epochs, recipe.schedule, recipe.schedule_t_max, recipe.batch_size) == (30, "cosine", 30, 64)
    assert recipe.class_weighted and recipe.best_val_from_epoch == 20
    assert recipe.augmentation == "none" and recipe.label_smoothing == 0.0
    assert (surf.architecture, surf.batch_format) == ("resnet18", "kaggle_dict")
    assert (surf.forget.kind, surf.forget.n_groups, surf.forget.selection) == ("groups", 15, "first")
    assert (surf.split.seed, surf.split.train, surf.split.val, surf.split.test) == (43, 0.8, 0.1, 0.1)


def test_cifar10_follows_the_starting_kit_split():
    cifar = load_competition("cifar10")
    assert (cifar.split.seed, cifar.split.val, cifar.split.test, cifar.split.train) == (42, 0.5, 0.5, None)
    assert cifar.forget.fraction == 0.1
    assert cifar.architecture == "resnet18"


def test_a_cutoff_above_one_retrain_is_allowed(tmp_path):
    path = _edited(tmp_path, "time_cutoff = 0.10", "time_cutoff = 2.5")
    assert load_competition(path).time_cutoff == 2.5


def test_load_by_path_and_passthrough(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text((COMPETITIONS_DIR / "digits.toml").read_text().replace('name = "digits"', 'name = "mine"'))
    mine = load_competition(path)
    assert mine.name == "mine" and mine.source == path
    assert load_competition(str(path)) == mine
    assert load_competition(mine) is mine


def test_to_dict_is_plain_data():
    data = load_competition("digits").to_dict()
    assert data["recipe"]["lr"] == 0.05 and data["phases"][0]["name"] == "public"
    assert "source" not in data


def _edited(tmp_path: Path, old: str, new: str, base: str = "digits") -> Path:
    text = (COMPETITIONS_DIR / f"{base}.toml").read_text()
    assert old in text, old
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('n_models = 32', 'n_models = 32\ncolour = "red"', r"unknown key\(s\) colour"),
        ('epochs = 60', 'epochs = 60\nwarmup = 2', r"unknown key\(s\) recipe\.warmup"),
        ('lr = 0.05\n', '', r"recipe\.lr: missing"),
        ('architecture = "small_cnn"', 'architecture = "vgg11"', r"architecture: unknown architecture 'vgg11'.*small_cnn"),
        ('dataset = "digits"', 'dataset = "mnist"', r"dataset: unknown dataset 'mnist'.*digits"),
        ('epochs = 60', 'epochs = "60"', r"recipe\.epochs: must be int, got str"),
        ('epochs = 60', 'epochs = true', r"recipe\.epochs: must be int, got bool"),
        ('allow_unsandboxed = true', 'allow_unsandboxed = 1', r"allow_unsandboxed: must be bool, got int"),
        ('lr = 0.05', 'lr = -0.05', r"recipe\.lr: must be > 0"),
        ('fraction = 0.1', 'fraction = 1.5', r"forget\.fraction: must be a fraction"),
        ('test = 0.2', 'test = 0.3', r"must add up to 1"),
        ('optimizer = "sgd"', 'optimizer = "lion"', r"recipe\.optimizer: unknown value 'lion'"),
        ('time_cutoff = 0.10', 'time_cutoff = 0', r"time_cutoff: must be a positive, finite fraction of one retrain"),
        ('time_cutoff = 0.10', 'time_cutoff = inf', r"time_cutoff: must be a positive, finite fraction .*got inf"),
        ('in_channels = 1', 'in_channels = 3', r"dataset 'digits' has 10 classes and 1 input channels"),
        ('forget_seed = 1', 'forget_class = 2', r"phases\.public\.forget_class: only applies to forget\.kind = \"class\""),
        ('kind = "random"\nfraction = 0.1', 'kind = "groups"\nn_groups = 3', r"dataset 'digits' has no groups"),
        ('schedule = "cosine"', 'schedule = "cosine"\nbest_val_from_epoch = 60', r"best_val_from_epoch: must be a 0-based epoch in \[0, 60\)"),
        ('[split]                   # a seeded permutation of all 1,797 images\nseed = 0\n', '[split]\n', r"split\.seed: missing"),
    ],
)
def test_invalid_files_fail_with_the_file_and_key(tmp_path, old, new, message):
    path = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError, match=message) as error:
        load_competition(path)
    assert str(path) in str(error.value)


def test_cifar_split_rejects_a_train_fraction(tmp_path):
    path = _edited(tmp_path, "val = 0.5", "train = 0.5\nval = 0.5", base="cifar10")
    with pytest.raises(ConfigError, match=r"split\.train: not used by dataset 'cifar10'"):
        load_competition(path)


def test_not_toml_missing_file_and_unknown_name(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_competition(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_competition(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"unknown competition 'imagenet'; shipped competitions: cifar10, .*surf"):
        load_competition("imagenet")


def test_unknown_phase_lists_the_phases():
    with pytest.raises(ConfigError, match=re.escape("has no phase 'final'; its phases are: public, private")):
        load_competition("digits").phase("final")


def test_default_phase_is_public_when_none_declared(tmp_path):
    text = (COMPETITIONS_DIR / "digits.toml").read_text()
    path = tmp_path / "single.toml"
    path.write_text(text[: text.index("[phases.public]")])
    assert load_competition(path).phase_names == ["public"]


def test_cli_reports_a_bad_competition_in_one_line_with_exit_code_2(tmp_path, capsys):
    path = _edited(tmp_path, 'n_models = 32', 'n_models = 0')
    assert cli_main(["pool", "--competition", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "n_models: must be an integer of at least 2, got 0" in error


# --- the 2023 batch format and the sandbox environment ---------------------------------------------


@pytest.mark.parametrize(
    "base, old, new, message",
    [
        ("surf", 'batch_format = "kaggle_dict"', 'batch_format = "surf_dict"', r"batch_format: 'surf_dict' is now called 'kaggle_dict'; write batch_format = \"kaggle_dict\""),
        ("surf", 'batch_format = "kaggle_dict"', 'batch_format = "dicts"', r"batch_format: unknown value 'dicts'; choose one of: tuple, kaggle_dict"),
        ("cifar10", 'batch_format = "tuple"', 'batch_format = "kaggle_dict"', r"dataset 'cifar10' records no ages and person ids for 'kaggle_dict' batches; datasets that do: surf, digits_kaggle"),
        ("digits-kaggle", 'packages = [', 'packages = ["requests", ', r"packages: unknown package 'requests'; the sandbox environment has: numpy, pandas, scipy, scikit-learn"),
        ("digits-kaggle", 'packages = [', 'packages = ["numpy", ', r"packages: 'numpy' is listed twice"),
        ("digits-kaggle", 'packages = [', 'packages = [3, ', r"packages: must be a list of distribution names \(strings\), got 3"),
        ("digits-kaggle", '"torch", ', '', r"packages: must include torch"),
        ("digits-kaggle", 'packages = [', 'packages = "numpy"\nold = [', r"packages: must be list, got str"),
    ],
)
def test_batch_format_and_packages_are_validated(tmp_path, base, old, new, message):
    path = _edited(tmp_path, old, new, base=base)
    with pytest.raises(ConfigError, match=message) as error:
        load_competition(path)
    assert str(path) in str(error.value)


def test_packages_default_to_the_whole_environment_and_match_pip_spelling(tmp_path):
    from harness.config.packages import DEFAULT_PACKAGES

    assert load_competition("cifar10").packages == DEFAULT_PACKAGES  # no `packages` key
    text = (COMPETITIONS_DIR / "digits-kaggle.toml").read_text()
    start = text.index("packages = [")
    path = tmp_path / "few.toml"
    path.write_text(text[:start] + 'packages = ["Torch", "scikit_learn"]' + text[text.index("\n", start):])
    assert load_competition(path).packages == ("torch", "scikit-learn")
    assert '"packages": ["torch", "scikit-learn"]' in load_competition(path).fingerprint_json()


def test_a_competition_may_set_its_sandbox_limits(tmp_path):
    path = tmp_path / "limited.toml"
    path.write_text((COMPETITIONS_DIR / "digits.toml").read_text() + "\n[sandbox]\nmemory_bytes = 2147483648\ntimeout_factor = 2\n")
    limits = load_competition(path).sandbox
    assert (limits.memory_bytes, limits.timeout_factor) == (2 * 1024**3, 2.0)
    assert limits.tmp_bytes == SandboxLimits().tmp_bytes  # the rest keep their defaults
    assert load_competition("digits").sandbox == SandboxLimits()


@pytest.mark.parametrize(
    "table, message",
    [
        ("cpus = \"0-3\"", r"unknown key\(s\) sandbox.cpus; known keys here: .*memory_bytes"),  # the machine's, not the competition's
        ("docker_image = \"mine\"", r"unknown key\(s\) sandbox.docker_image"),
        ("memory_bytes = 0", r"sandbox.memory_bytes: must be > 0, got 0"),
        ("memory_bytes = \"8G\"", r"sandbox.memory_bytes: must be int, got str"),
        ("timeout_factor = 0.5", r"sandbox: sandbox limit timeout_factor must be at least 1, got 0.5"),
    ],
)
def test_a_bad_sandbox_table_names_the_key(tmp_path, table, message):
    path = tmp_path / "limited.toml"
    path.write_text((COMPETITIONS_DIR / "digits.toml").read_text() + f"\n[sandbox]\n{table}\n")
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: {message}"):
        load_competition(path)
