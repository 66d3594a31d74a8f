"""The test suite's quick competition (tests/competitions/digits-quick.toml).

The shipped digits recipe trains each model for 60 epochs, so that 10% of a retrain is a real
unlearning budget; tests that train pools but do not test that recipe use this 4-epoch copy,
whose time cutoff (100 retrains) keeps every test that is not about time away from the clock.
"""

from pathlib import Path

QUICK_COMPETITION = Path(__file__).resolve().parent / "competitions" / "digits-quick.toml"
QUICK_NAME = "digits-quick"
