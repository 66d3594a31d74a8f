"""Split manifests (Parquet), one per shipped competition; see harness.data.manifest."""

from pathlib import Path

MANIFEST_DIR = Path(__file__).resolve().parent
