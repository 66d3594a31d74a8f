"""Many models of one architecture at once on one device: training, evaluation, stacking.

`train_models` trains one model per seed by a competition's recipe, several at a time in one stacked
network (harness.batched.stack); `evaluate_models` runs the harness's trusted evaluation of many
models the same way. Both return the one-at-a-time types (harness.training.TrainedModel,
harness.evaluation.ModelEvaluation).
"""

from harness.batched.evaluate import evaluate_models
from harness.batched.sizes import default_batch_models, pool_batch_models
from harness.batched.stack import StackedModel, stack_models
from harness.batched.train import train_models

__all__ = ["StackedModel", "default_batch_models", "evaluate_models", "pool_batch_models", "stack_models", "train_models"]
