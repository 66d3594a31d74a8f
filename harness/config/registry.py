"""The one way the harness names its extensions: datasets, architectures, sandboxes and baselines.

Each kind has one `Registry`: entries are frozen dataclasses declaring a `name` and what the harness
needs to know before running anything (a dataset's classes, a baseline's forget sets), and, where
there is code behind the name, a `target` ("module" or "module:attribute") imported only when
`load` asks for it. So a registry is torch-free to import, and checking a competition file against
it never imports a dataset reader or a model.

    DATASETS = Registry("dataset", [DatasetInfo("digits", target="harness.data.readers.digits", ...)])
    DATASETS["digits"].num_classes; DATASETS.load("digits").read_examples()

Adding one is adding an entry to its table: harness.config.datasets, harness.config.architectures,
harness.sandbox.backends, baselines.
"""

from __future__ import annotations

import importlib
from typing import Any, Generic, Iterable, Iterator, Protocol, TypeVar

from harness.errors import ConfigError


class Entry(Protocol):
    name: str


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """The entries of one kind of extension, by name, in the order they were registered."""

    def __init__(self, kind: str, entries: Iterable[E] = ()):
        self.kind = kind
        self._entries: dict[str, E] = {}
        for entry in entries:
            self.register(entry)

    def register(self, entry: E) -> E:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[E]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> E:
        """The entry called `name`; ConfigError naming the known ones otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.unknown(name)) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered: "unknown dataset 'x'; known: a, b"."""
        return f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries)) or '(none)'}"

    def load(self, name: str) -> Any:
        """The code behind `name`: its entry's `target`, imported now."""
        return load_target(self[name].target)


def load_target(target: str) -> Any:
    """"package.module" -> the module; "package.module:attribute" -> that attribute of it."""
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded
