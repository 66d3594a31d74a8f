"""Where the test suite's files are: the repository, the shared submissions, the quick competition.

tests/ is on sys.path (pytest puts the folder of tests/conftest.py there), so every test module,
in whatever folder, imports these as `from locations import ...`.

The shipped digits recipe trains each model for 60 epochs, so that 10% of a retrain is a real
unlearning budget; tests that train pools but do not test that recipe use a 4-epoch copy
(competitions/digits-quick.toml), whose time cutoff (100 retrains) keeps every test that is not
about time away from the clock.
"""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
BENCHMARKS = REPO / "benchmarks"
PIPELINE_SUBMISSIONS = TESTS / "pipeline_submissions"
KAGGLE_NOTEBOOKS = TESTS / "kaggle_notebooks"
QUICK_COMPETITION = TESTS / "competitions" / "digits-quick.toml"
QUICK_NAME = "digits-quick"
