"""Retraining from scratch on the retain set: the gold standard every unlearner is compared with.

Source: the definition of unlearning itself (DESIGN.md, METRIC.md): the retrained population is
"train a fresh model without the forget set". This submission produces one such model.
Idea: discard the original weights, draw fresh ones, and train on the retain set with the
competition's own training recipe (harness.kit.retrain_from_scratch: the trainer of the retrain pool), so its
outputs are distributed like the pool's retrained models: the forget quality an ideal unlearner
reaches, at the cost of a full retrain.
Hyperparameters: those of the competition's recipe (optimizer, rate, epochs, schedule, batch size,
class weights, augmentation, best-validation checkpoint on the validation loader), read from the
shipped competition named by UNLEARN_COMPETITION; the seed is UNLEARN_SEED. It deliberately ignores
UNLEARN_TIME_BUDGET_S: a retrain takes ten times the allowed time and is rejected as over_time,
which is the point of the time rule (its score is still computed when time is not enforced).
"""

from harness.kit import retrain_from_scratch


def unlearn(net, retain, forget, val):
    return retrain_from_scratch(net, retain, forget, val)
