"""`unlearn-harness manifest`: verify a competition's split manifests against the data, or regenerate them.

--verify (the default) reads the data, checks it against each phase's manifest, and rebuilds the
split from the competition's settings to check the manifest still matches them row for row.
--write regenerates the manifests from the (checksum-verified) data into data_manifests/ (or --out).
"""

from __future__ import annotations

import argparse

from harness.cli.arguments import add_competition, add_data, add_out, add_phases, add_verbosity, apply_verbosity


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_competition(parser, required=True, help="a shipped competition or a TOML file")
    add_phases(parser)
    add_data(parser)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--verify", action="store_true", help="check data and settings against the manifests (default)")
    action.add_argument("--write", action="store_true", help="regenerate the manifests from the data")
    add_out(parser, help="with --write: where to write (default data_manifests/)")
    add_verbosity(parser)


def main(args: argparse.Namespace) -> int:
    from harness.config import load_competition
    from harness.data.loading import read_dataset
    from harness.errors import DataError, HarnessError
    from harness.data.manifest import build_manifest, find_manifest, shipped_manifest_path, verify_examples, write_manifest

    apply_verbosity(args)
    if args.out and not args.write:
        raise HarnessError("--out applies to --write")
    competition = load_competition(args.competition)
    phases = [competition.phase(name).name for name in args.phase] if args.phase else competition.phase_names
    if args.write:
        examples, location = read_dataset(competition, args.data_dir, cache_dir=args.cache_dir)
        for phase in phases:
            manifest = build_manifest(competition, phase, examples)
            target = shipped_manifest_path(competition.name, phase)
            if args.out:
                target = args.out / target.name
            write_manifest(manifest, target)
            print(f"wrote {target}: {manifest.describe()} (dataset {manifest.dataset_checksum}, from {location})")
        return 0

    manifests = {phase: find_manifest(competition, phase, args.cache_dir) for phase in phases}
    absent = [phase for phase, manifest in manifests.items() if manifest is None]
    if absent:
        raise DataError(
            f"no manifest for competition {competition.name!r}, phase(s) {', '.join(absent)}; generate it with "
            f"`unlearn-harness manifest --competition {args.competition} --write` (or load the data once to cache one)"
        )
    first = next(iter(manifests.values()))
    examples, location = read_dataset(competition, args.data_dir, manifest=first, cache_dir=args.cache_dir)
    for phase, manifest in manifests.items():
        verify_examples(manifest, examples, location)
        rebuilt = build_manifest(competition, phase, examples)
        if rebuilt.checksum != manifest.checksum:
            raise DataError(
                f"{manifest.path}: the data matches, but rebuilding the split from {competition.source} gives different rows "
                f"(the split code or its settings changed); regenerate with `unlearn-harness manifest --competition "
                f"{args.competition} --phase {phase} --write`"
            )
        print(f"ok {manifest.path}: {manifest.describe()}")
    return 0
