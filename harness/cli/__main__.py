"""`python -m harness.cli ...`, the same as `unlearn-harness ...`."""

import sys

from harness.cli import main

sys.exit(main())
