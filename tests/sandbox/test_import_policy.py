"""The sandbox's import policy, in-process: submission code may import only the competition's environment."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

from harness.sandbox import import_policy
from harness.sandbox.import_policy import ModuleNotInEnvironment

PACKAGES = ("numpy", "torch")
ALLOWED = {"numpy", "torch", "allowed_pkg"}
FAKE_MODULES = ("outside_pkg", "allowed_pkg", "dependency_pkg", "helpers", "submission_under_test")


@pytest.fixture
def environment(tmp_path):
    """Installed packages (one allowed, its dependency, one outside), a submission folder, the policy."""
    site = tmp_path / "site-packages"
    (site / "outside_pkg").mkdir(parents=True)
    (site / "outside_pkg" / "__init__.py").write_text("VALUE = 'outside'\n")
    (site / "outside_pkg" / "sub.py").write_text("")
    (site / "allowed_pkg").mkdir()
    (site / "allowed_pkg" / "__init__.py").write_text("import dependency_pkg\nVALUE = dependency_pkg.VALUE\n")
    (site / "dependency_pkg.py").write_text("VALUE = 'dependency'\n")
    submission = tmp_path / "job" / "submission"
    submission.mkdir(parents=True)
    sys.path.insert(0, str(site))
    policy = import_policy.install(ALLOWED, submission, "digits-kaggle", PACKAGES)
    yield policy, submission
    import_policy.uninstall()
    sys.path.remove(str(site))
    for name in list(sys.modules):
        if name.partition(".")[0] in FAKE_MODULES:
            del sys.modules[name]


def run_submission(folder: Path, source: str, name: str = "submission_under_test.py") -> dict:
    """Execute `source` as a file of the submission folder (its frames carry that file name)."""
    path = folder / name
    path.write_text(textwrap.dedent(source))
    namespace: dict = {"__name__": path.stem}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    "statement",
    [
        "import outside_pkg",
        "from outside_pkg import VALUE",
        "import outside_pkg.sub",
        "import importlib; importlib.import_module('outside_pkg')",
        "__import__('outside_pkg')",
    ],
)
def test_submission_code_cannot_import_outside_the_environment(environment, statement):
    _, submission = environment
    with pytest.raises(ModuleNotInEnvironment) as caught:
        run_submission(submission, statement)
    assert str(caught.value) == (
        "module 'outside_pkg' is not in the environment of competition 'digits-kaggle' (numpy, torch, and the standard library)"
    )
    assert isinstance(caught.value, ModuleNotFoundError) and isinstance(caught.value, ImportError)
    assert "outside_pkg" not in sys.modules


def test_the_refusal_is_an_import_error_a_submission_can_catch(environment):
    _, submission = environment
    namespace = run_submission(
        submission,
        """
        try:
            import outside_pkg
            FOUND = True
        except ImportError:
            FOUND = False
        """,
    )
    assert namespace["FOUND"] is False


def test_allowed_packages_and_their_own_dependencies_import(environment):
    _, submission = environment
    namespace = run_submission(submission, "import allowed_pkg\nVALUE = allowed_pkg.VALUE\n")
    assert namespace["VALUE"] == "dependency"  # allowed_pkg imported dependency_pkg itself: not refused
    assert "dependency_pkg" in sys.modules


def test_the_standard_library_imports(environment):
    _, submission = environment
    namespace = run_submission(submission, "import colorsys, json\nfrom xml.dom import minidom\nOK = json.dumps(1)\n")
    assert namespace["OK"] == "1"


def test_the_submissions_own_modules_import_but_are_held_to_the_policy(environment, tmp_path):
    _, submission = environment
    (submission / "helpers.py").write_text("import outside_pkg\n")
    policy = import_policy.install(ALLOWED, submission, "digits-kaggle", PACKAGES)  # sees helpers.py now
    assert "helpers" in policy.own_modules
    sys.path.insert(0, str(submission))
    try:
        with pytest.raises(ModuleNotInEnvironment, match="module 'outside_pkg'"):
            run_submission(submission, "import helpers\n")
    finally:
        sys.path.remove(str(submission))


def test_code_outside_the_submission_imports_freely(environment):
    import outside_pkg  # this test file is not under the submission folder

    assert outside_pkg.VALUE == "outside"


def test_installing_twice_keeps_one_policy_and_uninstall_removes_it(environment):
    _, submission = environment
    import_policy.install(ALLOWED, submission, "digits-kaggle", PACKAGES)
    assert sum(isinstance(finder, import_policy.ImportPolicy) for finder in sys.meta_path) == 1
    assert isinstance(sys.meta_path[0], import_policy.ImportPolicy)
    import_policy.uninstall()
    assert not any(isinstance(finder, import_policy.ImportPolicy) for finder in sys.meta_path)


def test_the_competitions_environment_names_the_importable_modules():
    from harness.config import load_competition
    from harness.config.packages import allowed_import_names

    allowed = allowed_import_names(load_competition("digits-kaggle").packages)
    assert {"numpy", "pandas", "scipy", "sklearn", "torch", "torchvision", "tqdm", "matplotlib", "PIL", "harness"} <= allowed
    assert "pytest" not in allowed and "pyarrow" not in allowed and "docker" not in allowed


def test_the_policy_module_needs_only_the_standard_library():
    tree = ast.parse(Path(import_policy.__file__).read_text())
    imported = {alias.name.partition(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.partition(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
