"""The sandbox environment is one list: harness/config/packages.py, pyproject's extra `kaggle`, docker/requirements.txt."""

from __future__ import annotations

import tomllib

import pytest

from locations import REPO

from harness.config.packages import (
    DEFAULT_PACKAGES,
    IMPORT_NAMES,
    allowed_import_names,
    canonical_name,
    normalize,
    requirement_name,
)

FIX = "keep harness/config/packages.py, pyproject.toml's extra `kaggle` and docker/requirements.txt the same list"


def _requirement_lines(lines) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in lines if requirement_name(line) is not None]


def pyproject_kaggle_extra() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return _requirement_lines(project["optional-dependencies"]["kaggle"])


def docker_requirements() -> list[str]:
    return _requirement_lines((REPO / "docker" / "requirements.txt").read_text().splitlines())


def test_the_default_environment_is_what_2023_notebooks_import():
    assert set(DEFAULT_PACKAGES) == {"numpy", "pandas", "scipy", "scikit-learn", "torch", "torchvision", "tqdm", "matplotlib", "Pillow"}
    assert tuple(IMPORT_NAMES) == DEFAULT_PACKAGES
    assert IMPORT_NAMES["scikit-learn"] == ("sklearn",) and IMPORT_NAMES["Pillow"] == ("PIL",)


def test_pyproject_docker_and_the_harness_name_the_same_packages():
    harness_names = [normalize(name) for name in DEFAULT_PACKAGES]
    pyproject_names = [requirement_name(line) for line in pyproject_kaggle_extra()]
    docker_names = [requirement_name(line) for line in docker_requirements()]
    assert sorted(pyproject_names) == sorted(harness_names), FIX
    assert sorted(docker_names) == sorted(harness_names), FIX


def test_pyproject_and_docker_require_the_same_versions():
    assert sorted(pyproject_kaggle_extra()) == sorted(docker_requirements()), FIX


def test_the_docker_image_installs_the_requirements_file():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "COPY requirements.txt" in dockerfile and "-r /tmp/requirements.txt" in dockerfile


def test_the_test_extra_brings_the_environment():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "unlearning-harness[kaggle]" in project["optional-dependencies"]["test"]


def test_every_package_of_the_environment_is_installed_here():
    # The suite runs notebook submissions that import them (pip install -e ".[test]" brings them).
    import importlib.util

    missing = [name for names in IMPORT_NAMES.values() for name in names if importlib.util.find_spec(name) is None]
    assert not missing, f"not installed: {missing}; pip install -e '.[kaggle]'"


def test_names_are_matched_as_pip_matches_them():
    assert canonical_name("Scikit_Learn") == "scikit-learn" and canonical_name("pillow") == "Pillow"
    with pytest.raises(KeyError, match=r"unknown package 'requests'; known: numpy, pandas"):
        canonical_name("requests")
    assert requirement_name("Pillow>=10.0  # images") == "pillow" and requirement_name("  # a comment") is None
    with pytest.raises(ValueError, match="not a requirement"):
        requirement_name(">=1.0")


def test_allowed_import_names_cover_the_packages_and_the_harness():
    assert allowed_import_names(["torch", "scikit-learn"]) == {"torch", "sklearn", "harness"}
    assert {"PIL", "mpl_toolkits", "pylab", "matplotlib"} <= allowed_import_names(DEFAULT_PACKAGES)
