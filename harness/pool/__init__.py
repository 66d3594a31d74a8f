"""The retrain pool: one original model and N models retrained without the forget set, cached.

    pool = ensure_pool("digits", 32)        # builds what is missing, returns a Pool
    pool.reference                          # the time limit's yardstick (harness.pool.reference)

Modules: identity (what a pool is, its seeds and layout), settings (how it is built, checked once),
tasks (one work item per model), pool_model (one model's file), reference (the timed retrains),
build (ensure_pool, build_pool). Names load from their modules on first use.
"""

from __future__ import annotations

from harness.utils.lazy import lazy_exports

_EXPORTS = {
    "Pool": "harness.pool.build",
    "build_pool": "harness.pool.build",
    "ensure_pool": "harness.pool.build",
    "PoolSettings": "harness.pool.settings",
    "PoolModel": "harness.pool.pool_model",
    "read_pool_model": "harness.pool.pool_model",
    "ReferenceTiming": "harness.pool.reference",
    "REFERENCE_RUNS": "harness.pool.reference",
    "ORIGINAL": "harness.pool.identity",
    "RETRAINED": "harness.pool.identity",
    "model_seed": "harness.pool.identity",
    "pool_identity": "harness.pool.identity",
    "pool_path": "harness.pool.identity",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
