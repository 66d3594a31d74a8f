"""Many models of one architecture at once on one device: one stacked network, K independent trainings.

`train_models` trains one model per seed by a competition's recipe, several at a time in one stacked
network (harness.training.stacked.stack); harness.evaluation.stacked evaluates many models the same
way. Both return the one-at-a-time types (harness.training.trainer.TrainedModel,
harness.evaluation.model.ModelEvaluation).
"""

from harness.training.stacked.sizes import default_batch_models, pool_batch_models
from harness.training.stacked.stack import StackedModel, stack_models
from harness.training.stacked.train import train_models

__all__ = ["StackedModel", "default_batch_models", "pool_batch_models", "stack_models", "train_models"]
