"""The participant toolkit: environment, batches, deadlines, layers, schedules and the training loop."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness import kit
from harness.data import Split, make_loader
from harness.training.architectures import build_model
from locations import REPO

torch.set_num_threads(1)


class FakeClock:
    """A clock the test moves by hand, or by `tick` seconds at every reading."""

    def __init__(self, tick: float = 0.0):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def tiny_split(n: int = 40, classes: int = 4, seed: int = 0) -> Split:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 8, 8, generator=generator)
    labels = torch.arange(n) % classes
    return Split(images, labels, np.array([f"x{i}" for i in range(n)]), ages=labels + 20, person_ids=torch.arange(n) // 4)


# --- environment --------------------------------------------------------------------------------


def test_read_environment_parses_every_variable():
    environment = kit.read_environment(
        {
            "UNLEARN_SEED": "1000003",
            "UNLEARN_TIME_BUDGET_S": "2.5",
            "UNLEARN_NUM_CLASSES": "10",
            "UNLEARN_DEVICE": "cpu",
            "UNLEARN_COMPETITION": "digits",
            "UNLEARN_TIME_BASIS": "cpu",
        }
    )
    assert environment == kit.RunEnvironment(seed=1000003, time_budget_s=2.5, num_classes=10, device="cpu", competition="digits",
                                             time_basis="cpu")


def test_read_environment_treats_absent_and_blank_variables_as_none():
    assert kit.read_environment({"UNLEARN_TIME_BUDGET_S": "  "}) == kit.RunEnvironment()
    assert kit.RunEnvironment().time_basis == "wall"  # no UNLEARN_TIME_BASIS: charged on the wall clock


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("UNLEARN_TIME_BUDGET_S", "soon", "UNLEARN_TIME_BUDGET_S must be a number"),
        ("UNLEARN_TIME_BUDGET_S", "-1", "positive"),
        ("UNLEARN_TIME_BUDGET_S", "inf", "positive finite"),
        ("UNLEARN_NUM_CLASSES", "0", "UNLEARN_NUM_CLASSES must be a positive"),
        ("UNLEARN_SEED", "1.5", "UNLEARN_SEED must be an integer"),
        ("UNLEARN_TIME_BASIS", "gpu", "UNLEARN_TIME_BASIS must be one of cpu, wall, got 'gpu'"),
    ],
)
def test_read_environment_names_the_bad_variable(name, value, message):
    with pytest.raises(ValueError, match=message):
        kit.read_environment({name: value})


def test_read_environment_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("UNLEARN_TIME_BUDGET_S", "7")
    assert kit.read_environment().time_budget_s == 7.0


# --- batches and data ---------------------------------------------------------------------------


def test_unpack_batch_reads_tuples_lists_and_kaggle_dicts():
    images, labels = torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 2])
    for batch in [(images, labels), [images, labels], {"image": images, "age_group": labels}]:
        got_images, got_labels = kit.unpack_batch(batch, "cpu")
        assert got_images is images or torch.equal(got_images, images)
        assert torch.equal(got_labels, labels)


def test_unpack_batch_explains_a_dict_without_the_expected_keys():
    with pytest.raises(ValueError, match=r"lacks 'age_group'.*got \['image', 'label'\]"):
        kit.unpack_batch({"image": torch.zeros(1), "label": torch.zeros(1)})


def test_unpack_batch_rejects_other_batch_types():
    with pytest.raises(TypeError, match="got Tensor"):
        kit.unpack_batch(torch.zeros(2, 3))


@pytest.mark.parametrize("batch_format", ["tuple", "kaggle_dict"])
def test_collect_and_class_counts_read_both_batch_formats(batch_format):
    split = tiny_split(10, classes=3)
    loader = make_loader(split, 4, shuffle=False, batch_format=batch_format)
    images, labels = kit.collect(loader)
    assert torch.equal(images, split.images) and torch.equal(labels, split.labels)
    assert kit.class_counts(loader, 3).tolist() == [4.0, 3.0, 3.0]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        kit.class_counts(loader, 2)


def test_rebatch_keeps_the_examples_and_the_batch_format():
    loader = make_loader(tiny_split(10), 4, shuffle=False, batch_format="kaggle_dict")
    rebatched = kit.rebatch(loader, 3, shuffle=False)
    first = next(iter(rebatched))
    assert tuple(first) == ("image", "image_id", "age_group", "age", "person_id") and len(first["age_group"]) == 3
    assert len(rebatched) == 4


def test_endless_batches_cycles_and_skips_single_example_batches():
    loader = make_loader(tiny_split(5), 2, shuffle=False)  # batches of 2, 2, 1
    stream = kit.endless_batches(loader)
    assert [len(next(stream)[1]) for _ in range(5)] == [2, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="no batch of at least 2"):
        next(kit.endless_batches(make_loader(tiny_split(1), 4, shuffle=False)))


def test_num_classes_prefers_the_environment_then_the_classifier_width():
    net = build_model("small_cnn", 7, 1)
    assert kit.num_classes(net, kit.RunEnvironment()) == 7
    assert kit.num_classes(net, kit.RunEnvironment(num_classes=3)) == 3


def test_predict_runs_in_eval_mode_and_restores_train_mode():
    net = build_model("small_cnn", 4, 1).train()
    loader = make_loader(tiny_split(12), 5, shuffle=False)
    running_mean = net.features[1].running_mean.clone()
    logits, labels = kit.predict(net, loader)
    assert logits.shape == (12, 4) and labels.shape == (12,)
    assert net.training
    assert torch.equal(net.features[1].running_mean, running_mean)  # eval mode: statistics untouched
    assert 0.0 <= kit.accuracy(net, loader) <= 1.0


# --- time budget --------------------------------------------------------------------------------


def test_deadline_measures_elapsed_share_and_expiry():
    clock = FakeClock()
    deadline = kit.Deadline(10.0, clock=clock)
    clock.now = 4.0
    assert deadline.remaining() == 6.0 and deadline.fraction_used() == 0.4 and not deadline.expired()
    clock.now = 12.0
    assert deadline.remaining() == 0.0 and deadline.fraction_used() == 1.0 and deadline.expired()


def test_unlimited_deadline_never_expires():
    deadline = kit.Deadline(None)
    assert deadline.unlimited and deadline.remaining() == math.inf and deadline.fraction_used() == 0.0
    assert deadline.split(0.5).unlimited


def test_deadline_split_takes_a_share_of_what_remains():
    clock = FakeClock()
    deadline = kit.Deadline(10.0, clock=clock)
    clock.now = 2.0
    phase = deadline.split(0.25)
    assert phase.seconds == pytest.approx(2.0)
    with pytest.raises(ValueError, match="fraction"):
        deadline.split(0)


def test_deadline_from_environment_uses_a_share_of_the_budget():
    assert kit.Deadline.from_environment(environment=kit.RunEnvironment(time_budget_s=10.0), share=0.5).seconds == 5.0
    default = kit.Deadline.from_environment(environment=kit.RunEnvironment(time_budget_s=10.0))
    assert default.seconds == pytest.approx(10.0 * kit.DEFAULT_BUDGET_SHARE)
    assert kit.Deadline.from_environment(environment=kit.RunEnvironment()).unlimited
    with pytest.raises(ValueError, match="share"):
        kit.Deadline.from_environment(share=1.5, environment=kit.RunEnvironment())


def test_deadline_from_environment_runs_on_the_charged_clock():
    import time

    assert kit.charged_clock(kit.RunEnvironment(time_basis="cpu")) is time.process_time
    assert kit.charged_clock(kit.RunEnvironment(time_basis="wall")) is time.monotonic
    on_cpu = kit.Deadline.from_environment(environment=kit.RunEnvironment(time_budget_s=10.0, time_basis="cpu"))
    on_wall = kit.Deadline.from_environment(environment=kit.RunEnvironment(time_budget_s=10.0, time_basis="wall"))
    time.sleep(0.3)
    # Waiting costs no CPU time (whatever else the machine runs); the wall clock always moves on.
    assert on_cpu.elapsed() < 0.15 <= 0.3 <= on_wall.elapsed()
    assert on_cpu.split(0.5).elapsed() < 0.15  # a phase of it stays on the same clock
    fixed = kit.Deadline.from_environment(environment=kit.RunEnvironment(time_budget_s=10.0, time_basis="cpu"), clock=FakeClock(tick=1.0))
    assert fixed.elapsed() == 1.0  # an explicit clock wins


def test_timed_rounds_starts_a_round_only_when_it_fits():
    clock = FakeClock()
    deadline = kit.Deadline(10.0, clock=clock)
    progress = []
    for value in kit.timed_rounds(8, deadline):
        progress.append(value)
        clock.now += 3.0  # each round takes 3 s: after three rounds 1 s is left, less than a round
    assert len(progress) == 3
    assert progress[0] == 0.0 and progress[1] == pytest.approx(0.3) and progress[2] == pytest.approx(0.6)


def test_timed_rounds_runs_every_round_without_a_budget():
    assert list(kit.timed_rounds(4, kit.Deadline(None))) == [0.0, 0.25, 0.5, 0.75]


# --- layers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "architecture, channels, first, last, convs",
    [("small_cnn", 1, "features.0", "fc", 3), ("resnet18", 3, "conv1", "fc", 20), ("resnet18_cifar", 3, "conv1", "fc", 20)],
)
def test_layers_are_found_for_every_shipped_architecture(architecture, channels, first, last, convs):
    net = build_model(architecture, 10, channels)
    assert kit.first_layer(net)[0] == first
    assert kit.last_layer(net)[0] == last
    assert len(kit.conv_layers(net)) == convs
    assert kit.weight_layers(net)[-1][0] == last


def test_layer_lookup_explains_a_model_without_such_layers():
    with pytest.raises(ValueError, match="no linear layer"):
        kit.last_layer(nn.Sequential(nn.Conv2d(1, 2, 3)))
    with pytest.raises(ValueError, match="no convolution or linear layer"):
        kit.first_layer(nn.Sequential(nn.ReLU()))


def test_reinitialize_redraws_weights_and_resets_batchnorm_statistics():
    torch.manual_seed(0)
    net = build_model("small_cnn", 10, 1)
    with torch.no_grad():
        net.features[1].running_mean.fill_(3.0)
    before = net.features[0].weight.clone()
    kit.reinitialize(net)
    assert not torch.equal(net.features[0].weight, before)
    assert torch.equal(net.features[1].running_mean, torch.zeros_like(net.features[1].running_mean))


def test_fresh_parameters_leave_the_layer_unchanged():
    layer = nn.Linear(4, 3)
    before = layer.weight.clone()
    fresh = kit.fresh_parameters(layer)
    assert set(fresh) == {"weight", "bias"} and fresh["weight"].shape == (3, 4)
    assert torch.equal(layer.weight, before) and not torch.equal(fresh["weight"], before)


# --- losses and schedules -----------------------------------------------------------------------


def test_losses_have_their_textbook_values():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
    assert float(kit.distillation_kl(logits, logits, temperature=4.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(kit.distillation_kl(logits, logits.flip(1))) > 0
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float()
    assert float(kit.soft_cross_entropy(logits, one_hot)) == pytest.approx(float(nn.functional.cross_entropy(logits, torch.tensor([0, 2]))))
    assert float(kit.prediction_entropy(logits)[1]) == pytest.approx(math.log(3))


def test_input_noise_scales_with_the_images():
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8) * 255
    noise = kit.add_input_noise(images, 0.1) - images
    assert float(noise.std()) == pytest.approx(0.1 * float(images.std()), rel=0.05)


def test_schedules():
    assert kit.cosine(0.0) == 1.0 and kit.cosine(0.5) == pytest.approx(0.5) and kit.cosine(1.0) == pytest.approx(0.0)
    warm = kit.warmup_then_linear_decay(0.6, 1 / 3, 1 / 3)
    assert [round(warm(p), 4) for p in (0.0, 0.3, 0.6, 0.8, 1.0)] == [0.3333, 0.6667, 1.0, 0.6667, 0.3333]
    steps = kit.step_decay((0.5, 0.75), 0.1)
    assert [steps(p) for p in (0.0, 0.5, 0.8)] == [1.0, 0.1, pytest.approx(0.01)]


# --- the training loop --------------------------------------------------------------------------


def linear_problem():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    loader = make_loader(tiny_split(40), 8, shuffle=True, seed=0)
    return net, loader


def test_train_runs_the_planned_steps_and_follows_the_schedule():
    net, loader = linear_problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    rates = []
    loss = kit.classification_loss(net)

    def recording_loss(images, labels):
        rates.append(optimizer.param_groups[0]["lr"])
        return loss(images, labels)

    before = kit.predict(net, loader)
    result = kit.train(net, loader, recording_loss, optimizer, epochs=2, schedule=kit.cosine)
    assert (result.steps, result.epochs, result.stopped_by_deadline) == (10, 2.0, False)
    assert rates[0] == 0.5 and rates == sorted(rates, reverse=True) and rates[-1] < 0.05
    assert optimizer.param_groups[0]["lr"] == 0.5  # base rate restored for a later phase
    assert kit.accuracy(net, loader) > float((before[0].argmax(1) == before[1]).float().mean())


def test_train_stops_at_the_deadline_and_compresses_the_schedule():
    net, loader = linear_problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    clock = FakeClock(tick=0.5)  # every reading of the clock moves it half a second
    deadline = kit.Deadline(10.0, clock=clock)
    rates = []
    loss = kit.classification_loss(net)

    def recording_loss(images, labels):
        rates.append(optimizer.param_groups[0]["lr"])
        return loss(images, labels)

    result = kit.train(net, loader, recording_loss, optimizer, epochs=100, schedule=kit.cosine, deadline=deadline)
    assert result.stopped_by_deadline and 0 < result.steps < 500
    assert rates[-1] < 0.1  # the cosine reached its end within the budget, not after 100 epochs


def test_train_does_nothing_once_the_deadline_has_passed():
    net, loader = linear_problem()
    before = [parameter.clone() for parameter in net.parameters()]
    result = kit.train(net, loader, kit.classification_loss(net), torch.optim.SGD(net.parameters(), lr=1.0), epochs=1, deadline=kit.Deadline(0.0))
    assert result.steps == 0 and result.stopped_by_deadline
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_train_rejects_bad_arguments():
    net, loader = linear_problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    with pytest.raises(ValueError, match="epochs must be positive"):
        kit.train(net, loader, kit.classification_loss(net), optimizer, epochs=0)
    empty = make_loader(tiny_split(0), 4, shuffle=False)
    with pytest.raises(ValueError, match="empty loader"):
        kit.train(net, empty, kit.classification_loss(net), optimizer, epochs=1)


def _harness_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    return {name for name in names if name.partition(".")[0] == "harness"}


def test_baselines_examples_and_the_template_use_only_the_kit():
    files = [path for path in (REPO / "baselines").glob("*.py") if path.name != "__init__.py"]
    files += sorted((REPO / "submissions").rglob("*.py"))
    assert len(files) > 15
    for path in files:
        assert _harness_imports(path) <= {"harness.kit"}, path


def test_the_kit_promises_its_names_and_the_former_name_keeps_them():
    import harness.kit
    import harness.submission_kit

    assert harness.kit.__all__ == sorted(harness.kit.__all__, key=lambda name: (name.lower(), name))
    for name in harness.kit.__all__:
        assert getattr(harness.submission_kit, name) is getattr(harness.kit, name), name
    assert harness.submission_kit.__all__ == harness.kit.__all__
