"""The saga types this process knows, filled by defining `Saga` subclasses.

Each installed app's `sagas.py` is imported at start-up (see apps.py), like the admin's
autodiscovery, so defining a saga is enough to make it runnable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sagas.exceptions import SagaDefinitionError, UnknownSagaType

if TYPE_CHECKING:
    from sagas.definition import Saga


class SagaRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[Saga]] = {}

    def register(self, saga: type[Saga]) -> None:
        existing = self._types.get(saga.name)
        if existing is not None and _qualified(existing) != _qualified(saga):
            raise SagaDefinitionError(
                f"saga type '{saga.name}' is defined twice: by {_qualified(existing)} "
                f"and by {_qualified(saga)}"
            )
        self._types[saga.name] = saga

    def get(self, name: str) -> type[Saga]:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "none"
            raise UnknownSagaType(f"unknown saga type {name!r} (known types: {known})") from None

    def find(self, name: str) -> type[Saga] | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def __iter__(self) -> Iterator[type[Saga]]:
        return iter([self._types[name] for name in self.names()])

    @contextmanager
    def override(self, saga: type[Saga]) -> Iterator[None]:
        """Swap one type's definition for the length of a block (tests, code reloads)."""
        previous = self._types.get(saga.name)
        self._types[saga.name] = saga
        try:
            yield
        finally:
            if previous is None:
                self._types.pop(saga.name, None)
            else:
                self._types[saga.name] = previous


def _qualified(saga: type) -> str:
    return f"{saga.__module__}.{saga.__qualname__}"


registry = SagaRegistry()
