"""The submission's side of the contract, checked and explained in the participant's terms.

Runs inside the sandbox worker; standard library only (it may run before torch is imported).

- `unlearn_call(function)`: checks that the submission's function can be called as
  `(net, retain, forget, val)`, or in the 2023 form `unlearning(net, retain, forget, validation,
  device)` whose `device` parameter receives the run's torch device; else `ContractError`, whose
  message shows the function's signature and what the harness calls.
- `participant_traceback(error, submission_dir)`: the traceback from the participant's own code
  down (the harness frames above it dropped).
- `batch_format_hint(error, batch_format)`: one line naming the competition's batch format when an
  error looks like a batch read in the other format (dict keys on a tuple, tuple unpacking of a
  dict), and the shipped competition that serves that other format.
- `describe_failure(...)`: the two together, the text a failed run reports.
"""

from __future__ import annotations

import inspect
import os
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from harness.config.batch_formats import FORMATS, KAGGLE_DICT, KAGGLE_DICT_KEYS, TUPLE

DEVICE_PARAMETER = "device"
EXPECTED_CALL = "unlearn(net, retain, forget, val)"
EXPECTED = (
    f"the harness calls {EXPECTED_CALL}: the network, then the retain, forget and validation DataLoaders; "
    "the 2023 form unlearning(net, retain, forget, validation, device) is accepted too, its fifth "
    "parameter `device` receiving the run's torch device"
)

# Where the 2023 Kaggle driver and notebooks wrote (checkpoints, scratch files): a sandbox that runs
# such notebooks provides these as writable folders, empty at the start of every run.
KAGGLE_WRITABLE_DIRS = ("/kaggle/tmp", "/kaggle/working")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_FOUR_ARGUMENTS = ("net", "retain", "forget", "val")


class ContractError(TypeError):
    """The submission's function cannot be called the way the harness calls it."""


@dataclass(frozen=True)
class UnlearnCall:
    """The submission's function with how to call it: `call(net, retain, forget, val, device)`."""

    function: Callable[..., Any]
    # How the 2023 five-argument form receives the device: "positional" (fifth argument),
    # "keyword" (a keyword-only `device`), or None (the four-argument contract).
    device_argument: str | None = None

    @property
    def passes_device(self) -> bool:
        return self.device_argument is not None

    def __call__(self, net, retain, forget, val, device):
        if self.device_argument == "positional":
            return self.function(net, retain, forget, val, device)
        if self.device_argument == "keyword":
            return self.function(net, retain, forget, val, device=device)
        return self.function(net, retain, forget, val)


def unlearn_call(function: Callable[..., Any]) -> UnlearnCall:
    """Check `function` against the contract; raise ContractError saying what differs."""
    if not callable(function):
        raise ContractError(f"the submission's unlearn is a {type(function).__name__}, not a function; {EXPECTED}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return UnlearnCall(function)  # no signature to check (a builtin): call it as documented
    shown = f"{getattr(function, '__name__', type(function).__name__)}{signature}"
    device_argument = _device_argument(signature, shown)
    arguments = {"positional": (*_FOUR_ARGUMENTS, "device"), "keyword": _FOUR_ARGUMENTS, None: _FOUR_ARGUMENTS}[device_argument]
    try:
        signature.bind(*arguments, **({DEVICE_PARAMETER: "device"} if device_argument == "keyword" else {}))
    except TypeError as error:
        raise ContractError(f"the submission defines {shown}, which cannot be called that way ({error}); {EXPECTED}") from None
    return UnlearnCall(function, device_argument)


def _device_argument(signature: inspect.Signature, shown: str) -> str | None:
    """How a parameter named `device` takes the run's device: fifth positional, keyword-only, or not at all."""
    names = list(signature.parameters)
    if DEVICE_PARAMETER not in names:
        return None
    kind = signature.parameters[DEVICE_PARAMETER].kind
    position = names.index(DEVICE_PARAMETER)
    if kind == inspect.Parameter.KEYWORD_ONLY:
        return "keyword"
    if kind in _POSITIONAL and position == 4:
        return "positional"
    if kind in _POSITIONAL and position < 4:
        raise ContractError(
            f"the submission defines {shown}: its parameter `device` is argument {position + 1}, where the harness "
            f"passes {_FOUR_ARGUMENTS[position]}; {EXPECTED}"
        )
    return None  # a later positional `device` (after other extra parameters): the bind below explains


# ---------------------------------------------------------------------------------------------
# Tracebacks from the participant's code down


def participant_traceback(error: BaseException, submission_dir: str | os.PathLike) -> str:
    """`error` formatted as a traceback that starts at the first frame under `submission_dir`.

    Frames above it (the harness calling the submission) are dropped, in the error and in every
    exception it was raised from or during. A traceback with no frame of the submission is kept
    whole, except a syntax error in a submission file, which needs no frames at all.
    """
    folder = os.path.realpath(submission_dir)
    report = traceback.TracebackException.from_exception(error)
    seen: set[int] = set()
    pending = [report]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = _from_submission_down(current, folder)
        pending.extend(part for part in (current.__cause__, current.__context__) if part is not None)
        pending.extend(getattr(current, "exceptions", None) or ())
    return "".join(report.format())


def _from_submission_down(report: traceback.TracebackException, folder: str) -> traceback.StackSummary:
    frames = list(report.stack)
    for index, frame in enumerate(frames):
        if _is_under(frame.filename, folder):
            return traceback.StackSummary.from_list(frames[index:])
    if report.exc_type is not None and issubclass(report.exc_type, SyntaxError) and _is_under(report.filename or "", folder):
        return traceback.StackSummary.from_list([])
    return report.stack


def _is_under(filename: str, folder: str) -> bool:
    if not filename or not os.path.isabs(filename):
        return False
    real = os.path.realpath(filename)
    return real == folder or real.startswith(folder + os.sep)


# ---------------------------------------------------------------------------------------------
# Batches read in the other format

_DICT_ON_SEQUENCE = re.compile(r"(list|tuple) indices must be integers or slices, not str")
_DICT_METHOD_ON_SEQUENCE = re.compile(r"'(list|tuple)' object has no attribute '(keys|items|values|get)'")
_UNPACKING = re.compile(r"(too many|not enough) values to unpack")
_KEY_USED_AS_TENSOR = re.compile(r"'str' object has no attribute")


def batch_format_hint(error: BaseException, batch_format: str) -> str | None:
    """A one-line hint when `error` looks like a batch read in the other format; None otherwise."""
    if not _looks_like_other_format(error, batch_format):
        return None
    this = FORMATS[batch_format]
    others = "; ".join(f"{other.description} are served by competition {other.served_by!r}" for other in FORMATS.values() if other.name != batch_format)
    return (
        f"hint: if this comes from reading a batch: this competition's batches are {this.description}; {others} "
        "(harness.kit.unpack_batch reads every format)"
    )


def _looks_like_other_format(error: BaseException, batch_format: str) -> bool:
    message = str(error)
    key = error.args[0] if isinstance(error, KeyError) and error.args else None
    if batch_format == TUPLE:  # a dict reading of a (images, labels) batch
        return (
            (isinstance(error, TypeError) and _DICT_ON_SEQUENCE.search(message) is not None)
            or (isinstance(error, AttributeError) and _DICT_METHOD_ON_SEQUENCE.search(message) is not None)
            or (isinstance(error, IndexError) and "index out of range" in message)
            or (isinstance(error, ValueError) and _UNPACKING.search(message) is not None)
            or key in KAGGLE_DICT_KEYS
        )
    if batch_format == KAGGLE_DICT:  # a tuple reading of a dict batch (iterating a dict gives its keys)
        return (
            isinstance(key, int)
            or (isinstance(key, str) and key not in KAGGLE_DICT_KEYS)
            or (isinstance(error, ValueError) and _UNPACKING.search(message) is not None)
            or (isinstance(error, AttributeError) and _KEY_USED_AS_TENSOR.search(message) is not None)
        )
    return False


def describe_failure(error: BaseException, submission_dir: str | os.PathLike, batch_format: str) -> str:
    """What a failed run reports: the participant's traceback, and the batch-format hint if one applies."""
    text = participant_traceback(error, submission_dir)
    hint = batch_format_hint(error, batch_format)
    return text if hint is None else f"{text.rstrip()}\n{hint}\n"
