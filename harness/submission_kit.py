"""The submission kit's former name, kept so that existing submissions keep working: see harness.kit."""

from harness.kit import *  # noqa: F401,F403
from harness.kit import __all__  # noqa: F401
