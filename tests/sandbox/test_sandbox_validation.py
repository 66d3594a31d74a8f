"""Trusted checks of returned weights: nothing unpickled, nothing followed, everything compared."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading

import pytest
import torch
from safetensors.torch import save_file

from harness.training.architectures import build_model
from harness.sandbox import InvalidModel, load_returned_state_dict, weights_sha256
from harness.sandbox.validation import copy_untrusted_file, max_weights_bytes


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("small_cnn", 10, 1)


def _save(state, path):
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))
    return path


def test_valid_weights_load_exactly(model, tmp_path):
    state = model.state_dict()
    loaded = load_returned_state_dict(_save(state, tmp_path / "w.safetensors"), model)
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[key], state[key]) for key in state)


@pytest.mark.parametrize(
    "corrupt, problem",
    [
        (lambda state: state.pop("fc.weight"), "missing 1 key"),
        (lambda state: state.update(extra=torch.zeros(1)), "1 unexpected key"),
        (lambda state: state.update({"fc.weight": torch.zeros(10, 3)}), r"fc.weight has shape \[10, 3\]; the architecture needs \[10, \d+\]"),
        (lambda state: state.update({"fc.bias": state["fc.bias"].double()}), "fc.bias has dtype F64; the architecture needs F32"),
        (lambda state: state["fc.bias"].__setitem__(0, float("nan")), "fc.bias holds NaN or infinite values"),
        (lambda state: state["fc.weight"].__setitem__((0, 0), float("inf")), "fc.weight holds NaN or infinite values"),
    ],
    ids=["missing-key", "extra-key", "shape", "dtype", "nan", "inf"],
)
def test_weights_that_do_not_fit_are_refused(model, tmp_path, corrupt, problem):
    state = {key: value.clone() for key, value in model.state_dict().items()}
    corrupt(state)
    with pytest.raises(InvalidModel, match=problem):
        load_returned_state_dict(_save(state, tmp_path / "w.safetensors"), model)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file if ever unpickled


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_is_refused_without_being_unpickled(model, tmp_path, writer):
    marker = tmp_path / "unpickled"
    path = tmp_path / "w.safetensors"
    payload = {"fc.weight": _Payload(str(marker))}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(InvalidModel, match="not a valid safetensors file"):
        load_returned_state_dict(path, model)
    assert not marker.exists()


def test_an_oversized_file_is_refused_before_parsing(model, tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\0" * (max_weights_bytes(model) + 1))
    with pytest.raises(InvalidModel, match="bytes; a model of this architecture has at most"):
        load_returned_state_dict(path, model)


def test_copying_out_of_the_sandbox_refuses_links_and_special_files(tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("not for the sandbox")
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(secret)
    os.mkfifo(out / "fifo")
    (out / "big").write_bytes(b"\0" * 2000)
    (out / "fine").write_bytes(b"weights")
    with pytest.raises(InvalidModel, match="is it a link"):
        copy_untrusted_file(out / "link", tmp_path / "copy", 1000)
    # A FIFO would block a reader forever: it must be refused at once (in a thread, so a hang shows).
    raised = []

    def copy_fifo():
        try:
            copy_untrusted_file(out / "fifo", tmp_path / "copy", 1000)
        except InvalidModel as error:
            raised.append(error)

    worker = threading.Thread(target=copy_fifo, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and "not a regular file" in str(raised[0])
    with pytest.raises(InvalidModel, match="2000 bytes"):
        copy_untrusted_file(out / "big", tmp_path / "copy", 1000)
    with pytest.raises(InvalidModel, match="no weights file was written"):
        copy_untrusted_file(out / "missing", tmp_path / "copy", 1000)
    assert not (tmp_path / "copy").exists()
    copy_untrusted_file(out / "fine", tmp_path / "copy", 1000)
    assert (tmp_path / "copy").read_bytes() == b"weights"


def test_weights_hash_is_the_files_sha256(model, tmp_path):
    path = _save(model.state_dict(), tmp_path / "w.safetensors")
    assert weights_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
