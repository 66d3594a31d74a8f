"""`digits-kaggle`: the 2023 Kaggle data format on scikit-learn's digits (data, loaders, model, config)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.config.batch_formats import KAGGLE_DICT, KAGGLE_DICT_KEYS
from harness.config import load_competition
from harness.data import make_loader
from harness.data import load_data
from harness.data.readers.digits_kaggle import IMAGE_SIZE, PERSON_BLOCK, kaggle_pixels
from harness.training.architectures import build_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def competition():
    return load_competition("digits-kaggle")


@pytest.fixture(scope="module")
def data(competition, tmp_path_factory):
    return load_data(competition, "public", cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_competition_is_the_2023_setting_on_public_data(competition):
    assert (competition.dataset, competition.architecture, competition.num_classes, competition.in_channels) == ("digits_kaggle", "resnet18", 10, 3)
    assert competition.batch_format == KAGGLE_DICT and competition.batch_size == 64
    assert competition.time_cutoff == 0.10
    recipe = competition.recipe
    assert (recipe.optimizer, recipe.lr, recipe.weight_decay, recipe.batch_size, recipe.schedule) == ("adam", 1e-4, 5e-3, 64, "cosine")
    assert recipe.class_weighted and recipe.augmentation == "none"
    assert recipe.best_val_from_epoch == (2 * recipe.epochs) // 3  # the 2023 recipe's epoch 20 of 30, to scale
    assert (competition.forget.kind, competition.forget.selection) == ("groups", "seeded")
    assert competition.phase_names == ["public", "private"]
    assert {"numpy", "pandas", "scipy", "scikit-learn", "torch", "torchvision", "tqdm", "matplotlib", "Pillow"} == set(competition.packages)
    assert competition.allow_unsandboxed


def test_the_model_is_the_2023_torchvision_resnet18(competition):
    from torchvision.models import resnet18

    net = build_model(competition.architecture, competition.num_classes, competition.in_channels)
    assert net.conv1.in_channels == 3 and net.fc.in_features == 512 and net.fc.out_features == 10
    assert all(hasattr(net, f"layer{k}") for k in range(1, 5))
    reference = resnet18(num_classes=10).state_dict()  # a 2023 notebook's fresh teacher loads these weights
    assert {key: value.shape for key, value in net.state_dict().items()} == {key: value.shape for key, value in reference.items()}
    assert net(torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)).shape == (2, 10)


def test_images_are_3_channel_raw_0_255_float32_of_the_digits(data):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    for split in (data.retain, data.forget, data.val, data.test):
        images = split.images
        assert images.dtype == torch.float32 and images.shape[1:] == (3, IMAGE_SIZE, IMAGE_SIZE)
        assert images.min() >= 0 and images.max() <= 255 and torch.equal(images, images.round())  # integer pixels, unnormalised
        assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 1], images[:, 2])
        rows = np.array([int(i.removeprefix("digit-")) for i in split.ids])
        assert split.labels.tolist() == bunch.target[rows].tolist()
        assert torch.equal(images, kaggle_pixels(torch.from_numpy(bunch.images[rows] / 16.0).float().unsqueeze(1)))
    assert data.retain.images.max() == 255


def test_ages_and_people_are_the_documented_stand_ins(data):
    for split in (data.retain, data.forget, data.val, data.test):
        assert split.ages.dtype == torch.int64 and torch.equal(split.ages, split.labels)  # age = the digit
        rows = torch.tensor([int(i.removeprefix("digit-")) for i in split.ids])
        assert split.person_ids.dtype == torch.int64 and torch.equal(split.person_ids, rows // PERSON_BLOCK)
    forgotten = set(data.forget.person_ids.tolist())
    assert len(forgotten) == 10
    assert not forgotten & set(data.retain.person_ids.tolist())  # every training image of a forgotten person
    assert 0.08 < len(data.forget) / (len(data.forget) + len(data.retain)) < 0.12


def test_the_split_is_a_seeded_permutation_and_phases_forget_different_people(competition, data, tmp_path):
    permutation = np.random.default_rng(competition.split.seed).permutation(1797)
    ids = np.array([f"digit-{index:04d}" for index in permutation])
    assert (len(data.retain) + len(data.forget), len(data.val), len(data.test)) == (540, 179, 1078)
    assert sorted([*data.retain.ids, *data.forget.ids]) == sorted(ids[:540])
    assert sorted(data.val.ids) == sorted(ids[540:719]) and sorted(data.test.ids) == sorted(ids[719:])
    assert list(data.test.ids) == sorted(data.test.ids)  # each part in dataset order, as `digits`
    private = load_data(competition, "private", cache_dir=tmp_path)
    assert set(private.forget.person_ids.tolist()) != set(data.forget.person_ids.tolist())
    assert list(private.test.ids) == list(data.test.ids)


def test_the_manifests_are_shipped(competition, data, tmp_path):
    from harness.data.manifest import find_manifest, shipped_manifest_path

    for phase in competition.phase_names:
        manifest = find_manifest(competition, phase, tmp_path)
        assert manifest is not None and manifest.path == shipped_manifest_path(competition.name, phase)
    assert not list(tmp_path.iterdir())  # nothing generated


def _batches(data, part: str, *, seed: int, competition) -> list[dict]:
    return list(make_loader(getattr(data, part), competition.batch_size, shuffle=True, seed=seed, batch_format=competition.batch_format))


def test_batches_are_the_2023_dicts(data, competition):
    batches = _batches(data, "retain", seed=0, competition=competition)
    first = batches[0]
    assert tuple(first) == KAGGLE_DICT_KEYS
    assert first["image"].dtype == torch.float32 and first["image"].shape == (64, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert first["image"].max() > 1.0  # raw pixels, as the 2023 loader gave them
    assert first["age_group"].dtype == torch.int64 and first["age"].dtype == torch.int64 and first["person_id"].dtype == torch.int64
    assert isinstance(first["image_id"], list) and all(isinstance(i, str) for i in first["image_id"])
    assert [len(batch["age_group"]) for batch in batches] == [64] * (len(data.retain) // 64) + [len(data.retain) % 64]
    seen = [i for batch in batches for i in batch["image_id"]]
    assert sorted(seen) == sorted(data.retain.ids) and seen != list(data.retain.ids)  # every example once, shuffled
    position = {example_id: k for k, example_id in enumerate(data.retain.ids)}
    for batch in batches[:2]:
        rows = torch.tensor([position[i] for i in batch["image_id"]])
        assert torch.equal(batch["image"], data.retain.images[rows]) and torch.equal(batch["age_group"], data.retain.labels[rows])
        assert torch.equal(batch["person_id"], data.retain.person_ids[rows]) and torch.equal(batch["age"], data.retain.ages[rows])


@pytest.mark.parametrize("part", ["retain", "forget", "val"])
def test_every_loader_is_shuffled_anew_each_pass_and_by_seed(data, competition, part):
    loader = make_loader(getattr(data, part), competition.batch_size, shuffle=True, seed=3, batch_format=competition.batch_format)
    first_pass = [i for batch in loader for i in batch["image_id"]]
    second_pass = [i for batch in loader for i in batch["image_id"]]
    other_seed = [i for batch in _batches(data, part, seed=4, competition=competition) for i in batch["image_id"]]
    assert first_pass != second_pass and first_pass != other_seed
    assert first_pass == [i for batch in _batches(data, part, seed=3, competition=competition) for i in batch["image_id"]]


def test_a_split_round_trips_through_its_tensors_with_ages_and_people(data, tmp_path):
    from safetensors.torch import load_file, save_file

    from harness.data import Split

    save_file(data.forget.tensors(), str(tmp_path / "forget.safetensors"))
    again = Split.from_tensors(load_file(str(tmp_path / "forget.safetensors")), data.forget.ids)
    assert set(data.forget.tensors()) == {"images", "labels", "ages", "person_ids"}
    for name, tensor in data.forget.tensors().items():
        assert torch.equal(again.tensors()[name], tensor)
    assert list(again.ids) == list(data.forget.ids)
    plain = Split(data.forget.images, data.forget.labels, data.forget.ids)
    assert set(plain.tensors()) == {"images", "labels"} and Split.from_tensors(plain.tensors(), plain.ids).ages is None
    with pytest.raises(ValueError, match=r"split sizes disagree: 52 images, 52 labels, 52 ids, 3 ages"):
        Split(data.forget.images, data.forget.labels, data.forget.ids, ages=torch.zeros(3, dtype=torch.int64))


def test_tuple_batches_are_unchanged_by_the_extra_columns(data):
    images, labels = next(iter(make_loader(data.forget, 8, shuffle=False)))
    assert torch.equal(images, data.forget.images[:8]) and torch.equal(labels, data.forget.labels[:8])
