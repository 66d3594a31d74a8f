"""5th place of the NeurIPS 2023 Machine Unlearning Challenge (team "toshi_k & marvelworld").

Source: the challenge's summary talk (seeds/001), "5th place solution": an ensemble of two
approaches, each used for about half of the models (246 and 266 of 512 on the private board).
Idea: each run draws one approach (from torch's seeded RNG, probability TRANSPOSED_PROBABILITY):
(1) transpose every convolution kernel (swap its two spatial axes), which breaks what the model
    memorised while keeping reusable filters, then retrain on the retain set;
(2) fine-tune with pseudo-labels that reproduce the mistakes a model without the forget set would
    make: forget examples that the original classifies correctly but a retain-fine-tuned model does
    not get that model's prediction ("incorrect direction"); forget examples on which a model
    trained from scratch on the retain set is confident (entropy < ENTROPY_THRESHOLD x ln(classes))
    and wrong get the scratch model's prediction; then train on retain plus these pseudo-labels.
Hyperparameters (the talk gives none; chosen): every training phase uses the optimizer of the
starting kit's fine-tuning example (METRIC.md): SGD lr 0.1, momentum 0.9, weight decay 5e-4,
cosine schedule. (1): TRANSPOSED_EPOCHS 5; kernels that are not square are left as they are.
(2): the fine-tuned model is the submission's own model after FINETUNE_EPOCHS 1 (it then continues
with the pseudo-labels, so the budget is spent once); the scratch model trains SCRATCH_EPOCHS 2
from a fresh initialisation; the final phase runs PSEUDO_EPOCHS 2, each retain batch joined by
pseudo-labelled examples in proportion to their number (at least one). Under a time budget the phases get FINETUNE_SHARE,
SCRATCH_SHARE and the rest of the kit's share of it.
"""

from __future__ import annotations

import copy

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from harness.kit import (
    Deadline,
    classification_loss,
    collect,
    conv_layers,
    cosine,
    endless_batches,
    model_device,
    predict,
    prediction_entropy,
    reinitialize,
    train,
)

TRANSPOSED_PROBABILITY = 0.5
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
TRANSPOSED_EPOCHS = 5
FINETUNE_EPOCHS = 1
FINETUNE_SHARE = 0.3
SCRATCH_EPOCHS = 2
SCRATCH_SHARE = 0.4  # of what is left after fine-tuning
PSEUDO_EPOCHS = 2
ENTROPY_THRESHOLD = 0.25  # as a fraction of the largest possible entropy, ln(classes)


def sgd(net):
    return torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)


def transpose_kernels(net) -> None:
    """Swap the spatial axes of every square convolution kernel, in place."""
    with torch.no_grad():
        for _, conv in conv_layers(net):
            if conv.weight.shape[2] == conv.weight.shape[3]:
                conv.weight.copy_(conv.weight.transpose(2, 3).clone())


def retrain_from_transposed(net, retain, deadline) -> None:
    transpose_kernels(net)
    train(
        net, retain, classification_loss(net), sgd(net),
        epochs=TRANSPOSED_EPOCHS, schedule=cosine, deadline=deadline, desc="retrain transposed",
    )


def pseudo_labels(original_logits, finetuned_logits, scratch_logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """(which forget examples get a pseudo-label, the label): the talk's two rules, the first taking precedence."""
    original_correct = original_logits.argmax(1) == labels
    finetuned_prediction = finetuned_logits.argmax(1)
    incorrect_direction = original_correct & (finetuned_prediction != original_logits.argmax(1))
    max_entropy = torch.log(torch.tensor(float(scratch_logits.shape[1])))
    scratch_prediction = scratch_logits.argmax(1)
    confident_wrong = (prediction_entropy(scratch_logits) < ENTROPY_THRESHOLD * max_entropy) & (scratch_prediction != labels)
    chosen = incorrect_direction | confident_wrong
    new_labels = torch.where(incorrect_direction, finetuned_prediction, scratch_prediction)
    return chosen, new_labels


def finetune_with_pseudo_labels(net, retain, forget, deadline) -> None:
    forget_images, forget_labels = collect(forget)
    # One fixed order for every prediction below, whether or not the given loader shuffles.
    forget_in_order = DataLoader(TensorDataset(forget_images, forget_labels), batch_size=forget.batch_size or 64)
    original_logits = predict(net, forget_in_order)[0]

    train(
        net, retain, classification_loss(net), sgd(net),
        epochs=FINETUNE_EPOCHS, schedule=cosine, deadline=deadline.split(FINETUNE_SHARE), desc="fine-tune",
    )
    scratch = reinitialize(copy.deepcopy(net))
    train(
        scratch, retain, classification_loss(scratch), sgd(scratch),
        epochs=SCRATCH_EPOCHS, schedule=cosine, deadline=deadline.split(SCRATCH_SHARE), desc="scratch model",
    )
    finetuned_logits, scratch_logits = predict(net, forget_in_order)[0], predict(scratch, forget_in_order)[0]
    chosen, new_labels = pseudo_labels(original_logits.cpu(), finetuned_logits.cpu(), scratch_logits.cpu(), forget_labels)
    del scratch

    pseudo = TensorDataset(forget_images[chosen], new_labels[chosen])
    step_loss = with_pseudo_labels(net, pseudo, retain) if len(pseudo) else classification_loss(net)
    train(net, retain, step_loss, sgd(net), epochs=PSEUDO_EPOCHS, schedule=cosine, deadline=deadline, desc="pseudo-labels")


def with_pseudo_labels(net, pseudo: TensorDataset, retain):
    """Cross-entropy on each retain batch joined by pseudo-labelled examples, in proportion (at least one)."""
    share = round((retain.batch_size or 1) * len(pseudo) / len(retain.dataset))
    # Single pseudo examples are fine here: they always travel with a retain batch.
    pseudo_batches = endless_batches(DataLoader(pseudo, batch_size=max(1, share), shuffle=True), model_device(net), min_batch_size=1)

    def step_loss(images, labels):
        extra_images, extra_labels = next(pseudo_batches)
        return F.cross_entropy(net(torch.cat([images, extra_images])), torch.cat([labels, extra_labels]))

    return step_loss


def unlearn(net, retain, forget, val):
    deadline = Deadline.from_environment()
    if float(torch.rand(())) < TRANSPOSED_PROBABILITY:
        retrain_from_transposed(net, retain, deadline)
    else:
        finetune_with_pseudo_labels(net, retain, forget, deadline)
    return net
