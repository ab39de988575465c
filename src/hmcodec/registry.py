"""Name → builder registries: a method, entropy model, task or dataset is selected by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hmcodec.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of builders, e.g. ``ENTROPY_MODELS.build("context", channels=32)``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._builders[name] = builder
            return builder

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._builders[name]
        except KeyError:
            known = ", ".join(sorted(self._builders)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}.") from None

    def build(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders
