"""A competition's data: dataset readers, split manifests, and the splits and loaders the flow hands on.

    data = load_data(competition, "public")        # retain/forget/val/test, verified against the manifest
    loader = make_loader(data.retain, 64, shuffle=True, seed=0, batch_format="tuple")

Names load from their modules on first use (harness.utils.lazy): the sandbox worker reads splits and
builds loaders without loading the manifest code (pyarrow) or the dataset readers.
"""

from __future__ import annotations

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "Split": "harness.data.splits",
    "CompetitionData": "harness.data.splits",
    "make_loader": "harness.data.loaders",
    "load_data": "harness.data.loading",
    "read_dataset": "harness.data.loading",
    "resolve_data_dir": "harness.data.loading",
    "DATA_ENV": "harness.data.loading",
    "Manifest": "harness.data.manifest",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
