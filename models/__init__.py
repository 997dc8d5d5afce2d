"""Backends, discovered through the ``hybrid.backends`` entry-point group.

An entry point names a factory ``build(name, spec, settings) -> Backend``.
Third-party packages add backends by declaring one in their own
``[project.entry-points."hybrid.backends"]`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from hybrid.errors import ConfigError
from hybrid.settings import BackendSpec, Settings
from hybrid.types import Backend

ENTRY_POINT_GROUP = "hybrid.backends"

Factory = Callable[[str, BackendSpec, Settings], Backend]


def available_types() -> dict[str, object]:
    """Backend type name -> entry point (not yet loaded)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def build_backend(name: str, spec: BackendSpec, settings: Settings) -> Backend:
    types = available_types()
    if spec.type not in types:
        raise ConfigError(
            f"backends.{name}.type is {spec.type!r}, which no installed package provides; "
            f"installed types: {', '.join(sorted(types)) or 'none'} (is hybrid installed with `pip install -e .`?)"
        )
    factory: Factory = types[spec.type].load()
    return factory(name, spec, settings)


def build_backends(settings: Settings) -> dict[str, Backend]:
    """One backend object per configured name. Nothing is loaded or contacted yet."""
    return {name: build_backend(name, spec, settings) for name, spec in settings.backends.items()}
