"""One CLI vocabulary: a shared flag means the same thing, with the same help, in every command;
former spellings keep working, unseen in --help."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import COMMANDS, build_parser

# Flags whose help may differ by command: what a command evaluates, writes or reads differs.
OWN_HELP = {"--n-models", "--out", "--phase", "--bootstrap", "--competition", "--jobs"}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (choices,) = [action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(choices)


def flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_every_command_is_listed_and_says_how_verbose_to_be():
    commands = subparsers()
    assert sorted(commands) == sorted(COMMANDS)
    for name, parser in commands.items():
        assert {"--quiet", "--verbose"} <= set(flags(parser)), name


def test_a_shared_flag_has_one_meaning():
    seen: dict[str, tuple[str, argparse.Action]] = {}
    for name, parser in subparsers().items():
        for flag, action in flags(parser).items():
            if flag in ("-h", "--help") or action.help == argparse.SUPPRESS:
                continue
            if flag in seen:
                first_command, first = seen[flag]
                assert action.dest == first.dest and type(action) is type(first), (flag, first_command, name)
                assert action.choices == first.choices and action.type == first.type, (flag, first_command, name)
                if flag not in OWN_HELP:
                    assert action.help == first.help and action.default == first.default, (flag, first_command, name)
            else:
                seen[flag] = (name, action)


def test_the_device_defaults_to_auto_wherever_it_is_asked_for():
    for name, parser in subparsers().items():
        if "--device" in flags(parser):
            assert flags(parser)["--device"].default == "auto", name


@pytest.mark.parametrize(
    "argv, dest, value",
    [
        (["run", "s.py", "--backend", "dask"], "engine", "dask"),
        (["pool", "--backend", "ray"], "engine", "ray"),
        (["score", "o.parquet", "--models", "4"], "n_models", 4),
        (["manifest", "--competition", "digits", "--write", "--out-dir", "x"], "out", "x"),
    ],
)
def test_former_spellings_still_work_and_stay_out_of_the_help(argv, dest, value):
    parser = build_parser()
    assert str(getattr(parser.parse_args(argv), dest)) == str(value)
    old = next(arg for arg in argv if arg in ("--backend", "--models", "--out-dir"))
    assert old not in subparsers()[argv[0]].format_help()


def test_phase_is_repeatable_everywhere_and_a_one_phase_command_says_so(capsys):
    from harness.cli import main

    for name, parser in subparsers().items():
        if "--phase" in flags(parser):
            assert isinstance(flags(parser)["--phase"], argparse._AppendAction), name
    assert main(["leaderboard", "somewhere", "--phase", "public", "--phase", "private"]) == 2
    assert "leaderboard works on one phase; give --phase once" in capsys.readouterr().err
