"""Errors the harness reports to users as a one-line reason (CLI exit code 2)."""


class HarnessError(Exception):
    """A usage or configuration problem the user can fix (bad flag, missing data, bad config)."""


class ConfigError(HarnessError):
    """A competition configuration that cannot be loaded or is invalid."""


class DataError(HarnessError):
    """Missing or corrupt data: wrong checksum, missing archive, manifest mismatch."""
