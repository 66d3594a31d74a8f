"""The contract helpers the sandbox worker uses: call forms, participant tracebacks, batch-format hints."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.sandbox.contract import (
    ContractError,
    batch_format_hint,
    describe_failure,
    participant_traceback,
    unlearn_call,
)


# --- call forms ------------------------------------------------------------------------------------


def test_the_four_argument_contract_is_called_with_four_arguments():
    received = []

    def unlearn(net, retain, forget, val):
        received.append((net, retain, forget, val))
        return "net"

    call = unlearn_call(unlearn)
    assert not call.passes_device
    assert call("n", "r", "f", "v", "cuda") == "net"
    assert received == [("n", "r", "f", "v")]


def test_the_2023_five_argument_form_receives_the_device():
    def unlearning(net, retain, forget, validation, device):
        return (validation, device)

    call = unlearn_call(unlearning)
    assert call.passes_device and call.device_argument == "positional"
    assert call("n", "r", "f", "v", "cuda") == ("v", "cuda")


@pytest.mark.parametrize(
    "source",
    [
        "def unlearning(net, retain, forget, val, device='cpu'): return device",
        "def unlearning(net, retain, forget, val, *, device): return device",
        "def unlearning(net, retain, forget, val, device, /): return device",
    ],
    ids=["default", "keyword-only", "positional-only"],
)
def test_a_device_parameter_gets_the_device_in_every_spelling(source):
    namespace: dict = {}
    exec(source, namespace)
    assert unlearn_call(namespace["unlearning"])("n", "r", "f", "v", "cuda:0") == "cuda:0"


@pytest.mark.parametrize(
    "source",
    [
        "def unlearn(net, retain, forget, val=None): return val",
        "def unlearn(*args): return args[3]",
        "def unlearn(net, *loaders, **options): return loaders[2]",
    ],
)
def test_flexible_signatures_take_the_four_arguments(source):
    namespace: dict = {}
    exec(source, namespace)
    call = unlearn_call(namespace["unlearn"])
    assert not call.passes_device and call("n", "r", "f", "v", "cpu") == "v"


def test_callable_objects_and_builtins_are_accepted():
    class Unlearner:
        def __call__(self, net, retain, forget, val):
            return net

    assert unlearn_call(Unlearner())("n", "r", "f", "v", "cpu") == "n"
    assert unlearn_call(print).function is print  # no signature to check


@pytest.mark.parametrize(
    "source, words",
    [
        ("def unlearn(net, retain, forget): pass", r"unlearn\(net, retain, forget\), which cannot be called that way \(too many positional arguments\)"),
        ("def unlearn(net, retain, forget, val, epochs): pass", r"unlearn\(net, retain, forget, val, epochs\).*missing a required argument: 'epochs'"),
        ("def unlearn(net, retain, forget, val, *, lr): pass", r"missing a required argument: 'lr'"),
        ("def unlearning(net, retain, forget, device): pass", r"its parameter `device` is argument 4, where the harness passes val"),
    ],
)
def test_other_signatures_fail_with_the_signature_and_what_is_expected(source, words):
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(ContractError, match=words) as caught:
        unlearn_call(namespace["unlearn" if "unlearn(" in source else "unlearning"])
    message = str(caught.value)
    assert "the harness calls unlearn(net, retain, forget, val)" in message
    assert "unlearning(net, retain, forget, validation, device)" in message
    assert isinstance(caught.value, TypeError)


def test_a_non_callable_is_a_contract_error():
    with pytest.raises(ContractError, match="the submission's unlearn is a int, not a function"):
        unlearn_call(3)


# --- participant tracebacks ------------------------------------------------------------------------


def _submission(folder: Path, source: str) -> dict:
    """Compile `source` as the file folder/submission.py, the way the worker imports it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "submission.py"
    path.write_text(textwrap.dedent(source))
    namespace: dict = {"__name__": "submission"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def _harness_calls(function, *args):
    """Stands in for the worker: the frame above the participant's code."""
    return function(*args)


def _raised(function, *args) -> BaseException:
    try:
        _harness_calls(function, *args)
    except BaseException as error:  # noqa: BLE001 (the worker catches everything)
        return error
    raise AssertionError("nothing was raised")


def test_the_traceback_starts_at_the_participants_code(tmp_path):
    namespace = _submission(
        tmp_path / "submission",
        """
        def helper(batch):
            return batch["image"]

        def unlearn(net, retain, forget, val):
            return helper(retain)
        """,
    )
    error = _raised(namespace["unlearn"], None, [1, 2], None, None)
    text = participant_traceback(error, tmp_path / "submission")
    assert text.startswith("Traceback (most recent call last):")
    assert "_harness_calls" not in text and "test_sandbox_contract.py" not in text
    assert text.index("in unlearn") < text.index("in helper")
    assert 'return batch["image"]' in text
    assert text.rstrip().endswith("TypeError: list indices must be integers or slices, not str")


def test_frames_below_the_participants_code_are_kept(tmp_path):
    namespace = _submission(
        tmp_path / "submission",
        """
        import json

        def unlearn(net, retain, forget, val):
            return json.loads("{not json")
        """,
    )
    text = participant_traceback(_raised(namespace["unlearn"], None, None, None, None), tmp_path / "submission")
    assert "in unlearn" in text and "json" in text.split("in unlearn", 1)[1]
    assert "_harness_calls" not in text


def test_chained_exceptions_are_trimmed_too(tmp_path):
    namespace = _submission(
        tmp_path / "submission",
        """
        def unlearn(net, retain, forget, val):
            try:
                {}["missing"]
            except KeyError as error:
                raise RuntimeError("could not read the batch") from error
        """,
    )
    text = participant_traceback(_raised(namespace["unlearn"], None, None, None, None), tmp_path / "submission")
    assert "KeyError: 'missing'" in text and "RuntimeError: could not read the batch" in text
    assert "direct cause" in text and "_harness_calls" not in text


def test_an_error_outside_the_submission_keeps_its_whole_traceback(tmp_path):
    def harness_side():
        raise ValueError("the harness failed")

    text = participant_traceback(_raised(harness_side), tmp_path / "submission")
    assert "_harness_calls" in text and "harness_side" in text


def test_a_syntax_error_shows_the_line_without_harness_frames(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "submission.py").write_text("def unlearn(net, retain, forget, val)\n    return net\n")

    def import_it():
        compile((folder / "submission.py").read_text(), str(folder / "submission.py"), "exec")

    text = participant_traceback(_raised(import_it), folder)
    assert "Traceback" not in text and "import_it" not in text
    assert "submission.py" in text and "line 1" in text and "SyntaxError" in text


# --- batch-format hints ----------------------------------------------------------------------------


def _error_of(action) -> BaseException:
    try:
        action()
    except Exception as error:  # noqa: BLE001
        return error
    raise AssertionError("nothing was raised")


TUPLE_BATCH = [object(), object()]  # what default_collate makes of (images, labels) samples
DICT_BATCH = {"image": "images", "image_id": ["a"], "age_group": "labels", "age": "ages", "person_id": "people"}


def _unpack_two(batch):
    images, labels = batch
    return images, labels


@pytest.mark.parametrize(
    "action",
    [
        lambda: TUPLE_BATCH["image"],
        lambda: TUPLE_BATCH.keys(),
        lambda: TUPLE_BATCH[2],
        lambda: tuple(TUPLE_BATCH)["age_group"],
    ],
    ids=["key", "keys()", "third element", "tuple key"],
)
def test_a_dict_reading_of_tuple_batches_names_the_dict_competition(action):
    hint = batch_format_hint(_error_of(action), "tuple")
    assert hint == (
        "hint: if this comes from reading a batch: this competition's batches are (images, labels) tuples; "
        "the 2023 dict batches (sample['image'], sample['age_group'], also 'image_id', 'age', 'person_id') are "
        "served by competition 'digits-kaggle' (harness.kit.unpack_batch reads every format)"
    )


@pytest.mark.parametrize(
    "action",
    [lambda: _unpack_two(DICT_BATCH), lambda: DICT_BATCH[0], lambda: DICT_BATCH["label"], lambda: _unpack_two({"image": 1, "age_group": 2})[0].to("cpu")],
    ids=["unpacking", "index", "unknown key", "a key used as a tensor"],
)
def test_a_tuple_reading_of_dict_batches_names_the_tuple_competition(action):
    hint = batch_format_hint(_error_of(action), "kaggle_dict")
    assert hint is not None
    assert "this competition's batches are the 2023 dict batches (sample['image'], sample['age_group']" in hint
    assert "(images, labels) tuples are served by competition 'digits'" in hint
    assert "\n" not in hint


@pytest.mark.parametrize(
    "error, batch_format",
    [
        (TypeError("unsupported operand type(s) for +: 'int' and 'str'"), "tuple"),
        (KeyError("image"), "kaggle_dict"),
        (ZeroDivisionError("division by zero"), "tuple"),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "kaggle_dict"),
    ],
)
def test_unrelated_errors_get_no_hint(error, batch_format):
    assert batch_format_hint(error, batch_format) is None


def test_describe_failure_is_the_traceback_then_the_hint(tmp_path):
    namespace = _submission(
        tmp_path / "submission",
        """
        def unlearning(net, retain, forget, validation, device):
            for sample in retain:
                inputs = sample["image"].to(device)
        """,
    )
    error = _raised(namespace["unlearning"], None, [TUPLE_BATCH], None, None, "cpu")
    text = describe_failure(error, tmp_path / "submission", "tuple")
    lines = text.rstrip().splitlines()
    assert lines[-2] == "TypeError: list indices must be integers or slices, not str"
    assert lines[-1].startswith("hint: ") and "'digits-kaggle'" in lines[-1]
    assert "_harness_calls" not in text
    assert describe_failure(error, tmp_path / "submission", "kaggle_dict") == participant_traceback(error, tmp_path / "submission")


def _imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_contract_needs_only_the_standard_library():
    import sys

    import harness.config.batch_formats
    import harness.sandbox.contract

    standard = set(sys.stdlib_module_names) | {"__future__"}
    contract_imports = _imports(Path(harness.sandbox.contract.__file__))
    assert {name.partition(".")[0] for name in contract_imports} - standard == {"harness"}
    assert {name for name in contract_imports if name.startswith("harness")} == {"harness.config.batch_formats"}
    assert {name.partition(".")[0] for name in _imports(Path(harness.config.batch_formats.__file__))} <= standard
