"""The trusted side of the unlearning-challenge harness (imports torch)."""

__version__ = "0.1.0"
