"""The numbers of the official rule (METRIC.md), named once so every module uses the same ones."""

# Privacy slack of the (epsilon, delta) definition used by every rule.
DELTA = 1e-5

# Largest per-example epsilon; also what a "peaky" example gets without any attack.
EPSILON_CAP = 50.0

# Peaky guard: an example is capped when min(range) / max(range) of its two populations is below this.
PEAKY_RANGE_RATIO = 0.01

# Both threshold grids use this many thresholds per unit of confidence.
THRESHOLDS_PER_UNIT = 100

# Interval family: how far (in confidence units) the grids reach beyond the peakier population.
INTERVAL_BUFFER = 2.0

# Forgetting quality: bucket k covers [k * width, (k + 1) * width) and is worth 1 / 2**k.
BUCKET_WIDTH = 0.5

# |phi| <= log(1 + 1e-45) - log(1e-45) ~= 103.62 for any logits (see confidence.py); anything
# beyond this bound is not a logit-scaled confidence, and would make the single-threshold grid
# (100 thresholds per unit of range) needlessly large.
MAX_ABS_CONFIDENCE = 104.0

# What a bootstrap resamples: whole models of both populations, or forget examples (bootstrap.py).
RESAMPLE_KINDS = ("models", "examples")
