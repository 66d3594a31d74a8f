"""`unlearn-harness`: one entry point, one module per subcommand in harness.cli.

Each command module defines `add_arguments(parser)` and `main(args) -> int`. Modules are
imported only when their command runs, so `unlearn-harness score` never imports torch.
Exit codes: 0 scored / success, 1 the submission failed or was over time, 2 usage or
configuration error (always with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from harness.errors import HarnessError

# command name -> (module under harness.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "evaluate a submission end to end and write score.json, outputs and a report"),
    "check": ("check", "one-minute smoke test of a submission (N = 2)"),
    "score": ("score", "re-score stored outputs.parquet without torch"),
    "pool": ("pool", "build or reuse the retrain pool of a competition"),
    "leaderboard": ("leaderboard", "rank result folders into a leaderboard"),
    "reproduce": ("reproduce", "score every baseline and write the leaderboard"),
    "confirm": ("confirm", "re-run a leaderboard's top K at a larger N: did the ranking hold?"),
    "manifest": ("manifest", "regenerate or verify a split manifest"),
}


def _available_commands() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(f"harness.cli.{module}") is not None:
            found[name] = (module, help_text)
    return found


def build_parser() -> argparse.ArgumentParser:
    from harness import __version__

    parser = argparse.ArgumentParser(
        prog="unlearn-harness",
        description="Evaluation harness for machine-unlearning competitions.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _available_commands().items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        # Importing here keeps one module per command without a central argument list;
        # command modules import torch lazily inside main() where they can.
        importlib.import_module(f"harness.cli.{module}").add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(f"harness.cli.{args._module}")
    try:
        return int(module.main(args) or 0)
    except HarnessError as error:
        print(f"unlearn-harness {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"unlearn-harness {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    finally:
        if "joblib" in sys.modules:  # the command ran work items: end its idle local workers at once
            from harness.compute.engines import release_local_workers

            release_local_workers()

