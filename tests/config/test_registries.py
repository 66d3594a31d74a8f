"""One registration mechanism for every extension: datasets, architectures, sandboxes, baselines."""

from __future__ import annotations

import inspect

import pytest

from baselines import BASELINES, BASELINES_DIR
from harness.config.architectures import ARCHITECTURES
from harness.config.competition import FORGET_KINDS
from harness.config.datasets import DATASETS
from harness.config.registry import Registry
from harness.errors import ConfigError
from harness.sandbox.backends import SANDBOXES, create_sandbox
from harness.sandbox.backends.base import Sandbox
from harness.sandbox.limits import SandboxLimits


@pytest.mark.parametrize("entry", list(DATASETS), ids=lambda entry: entry.name)
def test_every_dataset_names_a_reader(entry):
    reader = DATASETS.load(entry.name)
    assert callable(reader.read_examples) and callable(reader.assign_splits)
    assert callable(getattr(reader, "locate", None)) == entry.needs_files


@pytest.mark.parametrize("entry", list(ARCHITECTURES), ids=lambda entry: entry.name)
def test_every_architecture_names_a_builder(entry):
    from harness.training.architectures import build_model

    model = build_model(entry.name, num_classes=10, in_channels=3)
    assert sum(parameter.numel() for parameter in model.parameters()) > 0
    assert set(entry.pool_stacking) <= {"cpu", "cuda"}


@pytest.mark.parametrize("entry", list(SANDBOXES), ids=lambda entry: entry.name)
def test_every_sandbox_names_its_backend_and_check(entry):
    backend = SANDBOXES.load(entry.name)
    assert inspect.isclass(backend) and issubclass(backend, Sandbox)
    assert backend.name == entry.name and backend.isolated == entry.isolated
    assert isinstance(create_sandbox(entry.name, SandboxLimits()), backend)


def test_every_baseline_file_is_registered_and_every_entry_has_its_file():
    files = sorted(path.stem for path in BASELINES_DIR.glob("*.py") if not path.name.startswith("_"))
    assert files == sorted(entry.name for entry in BASELINES)
    assert all(entry.path.is_file() and set(entry.forget_kinds) <= set(FORGET_KINDS) for entry in BASELINES)
    assert [entry.name for entry in BASELINES if entry.forget_kinds != FORGET_KINDS] == ["svd_class_unlearning"]


def test_an_unknown_name_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown architecture 'vgg'; known: resnet18, resnet18_cifar, small_cnn"):
        ARCHITECTURES["vgg"]
    assert "imagenet" not in DATASETS and len(DATASETS) == len(DATASETS.names())


def test_a_name_is_registered_once():
    registry = Registry("thing", [ARCHITECTURES["small_cnn"]])
    with pytest.raises(ValueError, match="thing 'small_cnn' is registered twice"):
        registry.register(ARCHITECTURES["small_cnn"])
