"""Split manifests: the shipped ones match data and settings; tampering and stale settings are caught."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from data_manifests import MANIFEST_DIR
from harness.cli import main as cli_main
from harness.config import COMPETITIONS_DIR, load_competition
from harness.data import load_data, read_dataset
from harness.errors import DataError
from harness.data.manifest import (
    METADATA_KEY,
    build_manifest,
    find_manifest,
    read_manifest,
    shipped_manifest_path,
    write_manifest,
)

SHIPPED = ["digits-class.private", "digits-class.public", "digits-kaggle.private", "digits-kaggle.public", "digits.private", "digits.public"]


def test_the_digits_manifests_are_shipped_with_columns_and_checksums():
    assert sorted(path.name.removesuffix(".parquet") for path in MANIFEST_DIR.glob("*.parquet")) == SHIPPED
    table = pq.read_table(shipped_manifest_path("digits", "public"))
    assert table.column_names == ["id", "split", "forget", "label", "group", "content_md5"]
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    assert meta["dataset_checksum"].startswith("sha256:") and meta["manifest_checksum"].startswith("sha256:")
    assert meta["spec"]["forget_seed"] == 1 and meta["dataset"] == "digits"
    splits = table.column("split").to_pylist()
    forget = table.column("forget").to_pylist()
    assert set(splits) == {"train", "val", "test"}
    assert all(split == "train" for split, gone in zip(splits, forget) if gone)


@pytest.mark.parametrize("name", ["digits", "digits-class", "digits-kaggle"])
def test_shipped_manifests_verify_against_data_and_settings(name, capsys):
    assert cli_main(["manifest", "--competition", name, "--verify"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == 2 and "retain" in out


def test_regenerating_reproduces_the_shipped_rows(tmp_path, capsys):
    assert cli_main(["manifest", "--competition", "digits", "--write", "--out-dir", str(tmp_path)]) == 0
    for phase in ("public", "private"):
        regenerated = read_manifest(tmp_path / f"digits.{phase}.parquet")
        shipped = read_manifest(shipped_manifest_path("digits", phase))
        assert regenerated.checksum == shipped.checksum
        assert np.array_equal(regenerated.ids, shipped.ids) and np.array_equal(regenerated.forget, shipped.forget)


def test_a_tampered_manifest_is_refused(tmp_path):
    manifest = read_manifest(shipped_manifest_path("digits", "public"))
    table = pq.read_table(manifest.path)
    forget = table.column("forget").to_pylist()
    forget[forget.index(False)] = True
    tampered = table.set_column(table.column_names.index("forget"), "forget", [forget])
    path = tmp_path / "digits.public.parquet"
    pq.write_table(tampered.replace_schema_metadata(table.schema.metadata), path)
    with pytest.raises(DataError, match=rf"{path}: the manifest's rows do not match its recorded checksum"):
        read_manifest(path)


def test_not_a_manifest_is_refused(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=rf"{path}: not a readable Parquet manifest"):
        read_manifest(path)


def test_changed_split_settings_make_the_shipped_manifest_stale(tmp_path):
    text = (COMPETITIONS_DIR / "digits.toml").read_text().replace("forget_seed = 1", "forget_seed = 7")
    (tmp_path / "digits.toml").write_text(text)
    edited = load_competition(tmp_path / "digits.toml")
    with pytest.raises(DataError, match=r"other split settings \(forget_seed differ\).*--phase public --write"):
        load_data(edited, "public", cache_dir=tmp_path / "cache")


def test_a_renamed_competition_gets_its_manifest_generated_and_cached(tmp_path):
    text = (COMPETITIONS_DIR / "digits.toml").read_text().replace('name = "digits"', 'name = "digits-seed7"')
    (tmp_path / "c.toml").write_text(text.replace("forget_seed = 1", "forget_seed = 7"))
    competition = load_competition(tmp_path / "c.toml")
    assert find_manifest(competition, "public", tmp_path / "cache") is None
    data = load_data(competition, "public", cache_dir=tmp_path / "cache")
    cached = find_manifest(competition, "public", tmp_path / "cache")
    assert cached is not None and cached.path.parent == tmp_path / "cache" / "manifests"
    assert list(data.forget.ids) == list(cached.forget_ids)
    assert set(data.forget.ids) != set(load_data("digits", "public", cache_dir=tmp_path / "cache").forget.ids)


def test_data_differing_from_the_manifest_names_the_examples(tmp_path, monkeypatch):
    import harness.data.readers.digits as digits

    original = digits.read_examples

    def relabelled(*args, **kwargs):
        examples = original(*args, **kwargs)
        examples.labels[5] = (examples.labels[5] + 1) % 10  # one corrupted label
        return examples

    monkeypatch.setattr(digits, "read_examples", relabelled)
    with pytest.raises(DataError, match=r"does not match the manifest .*digits\.public\.parquet \(1 labels differ \(e\.g\. digit-0005\)\)"):
        load_data("digits", "public", cache_dir=tmp_path)


def test_verify_without_any_manifest_says_how_to_make_one(tmp_path, capsys):
    text = (COMPETITIONS_DIR / "digits.toml").read_text().replace('name = "digits"', 'name = "fresh"')
    (tmp_path / "fresh.toml").write_text(text)
    assert cli_main(["manifest", "--competition", str(tmp_path / "fresh.toml"), "--cache-dir", str(tmp_path)]) == 2
    assert "no manifest for competition 'fresh'" in capsys.readouterr().err


def test_manifest_rows_partition_the_dataset(tmp_path):
    competition = load_competition("digits-class")
    examples, _ = read_dataset(competition)
    manifest = build_manifest(competition, "private", examples)
    parts = {part: set(manifest.rows(part)) for part in ("retain", "forget", "val", "test")}
    assert sum(len(rows) for rows in parts.values()) == len(manifest) == len(examples)
    assert set().union(*parts.values()) == set(range(len(manifest)))
    write_manifest(manifest, tmp_path / "m.parquet")
    assert read_manifest(tmp_path / "m.parquet").checksum == manifest.checksum
