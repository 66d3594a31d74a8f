"""Shared test set-up: tests/ is on sys.path, so every test module imports the helpers as `hostile.support`."""
