"""Unlearning baselines; every module here is itself a valid submission (one `unlearn`)."""
