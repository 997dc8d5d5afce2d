"""The backend plugin seam: each backend type owns its options model and its factory.

A backend type is a module (or any object) with two names::

    Options                          a pydantic model, a subclass of BackendOptions
    build(name, options) -> Backend  gets its own validated options, nothing else

``[backends.NAME]`` in the config is validated by the ``Options`` of its
``type``, so a typo names the key (``backends.vllm.api_base: Extra inputs are
not permitted``). The built-in types live in ``models/`` and are found
without scanning installed packages; any other type name is looked up in the
``hybrid.backends`` entry-point group, which is how an outside package adds
one::

    [project.entry-points."hybrid.backends"]
    mykind = "mypkg.backend"        # a module with Options and build

Keys are per backend: ``api_key_env`` names the environment variable that
holds a backend's key. It is read once, when the settings are loaded, into
``api_key`` (a SecretStr, never logged).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hybrid.errors import ConfigError
from hybrid.types import Backend, Price

ENTRY_POINT_GROUP = "hybrid.backends"
BUILTIN_TYPES = {
    "llamacpp": "models.llamacpp",
    "ollama": "models.ollama",
    "anthropic": "models.anthropic",
    "openai": "models.openai_compat",
}
#: Options every backend type has; the rest of a type's fields go to its backend's constructor.
COMMON_FIELDS = ("type", "price_input", "price_output", "api_key_env", "api_key")


class BackendOptions(BaseModel):
    """What every backend type accepts. A type's own ``Options`` subclasses this and adds its fields."""

    model_config = ConfigDict(extra="forbid")

    type: str
    """Backend type: llamacpp, ollama, anthropic, openai, or one an installed package adds."""
    model: str = ""
    """Model name as the backend knows it (Ollama tag, API model id, or a label for a GGUF)."""
    local: bool = False
    """Whether the backend runs on this machine or network (local work is free and private)."""
    price_input: float = Field(default=0.0, ge=0)
    """US dollars per million input tokens."""
    price_output: float = Field(default=0.0, ge=0)
    """US dollars per million output tokens."""
    api_key_env: str | None = None
    """Environment variable holding this backend's API key (read when settings load; never logged)."""
    api_key: SecretStr | None = None
    """The key itself; normally filled from ``api_key_env`` rather than written in the config file."""

    @property
    def price(self) -> Price:
        return Price(self.price_input, self.price_output)

    def constructor_kwargs(self) -> dict[str, Any]:
        """The options as a backend's keyword arguments: its own fields, model, local and ``price`` (no keys)."""
        values = {name: getattr(self, name) for name in type(self).model_fields if name not in COMMON_FIELDS}
        return values | {"price": self.price}


class SDKOptions(BackendOptions):
    """Options of a backend that calls a server through a vendor SDK that retries on its own."""

    max_retries: int = Field(default=2, ge=0)
    """Retries the SDK makes on connection errors, 429 and 5xx (and overload) before the router falls back."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Network timeout per call, seconds."""


def scrub(text: str, key: SecretStr | None) -> str:
    """``text`` with ``key`` replaced by ***, for messages passed on from an SDK."""
    secret = key.get_secret_value() if key is not None else ""
    return text.replace(secret, "***") if secret else text


class Installed:
    """Whether a backend's client package can be imported, for its cheap health check, which runs on every
    routing decision. A package once found is remembered: ``find_spec`` walks ``sys.path`` under the import
    lock (measured under 32 concurrent requests on ``hybrid serve``: 2.5% of the request threads' samples).
    One not found is looked for again, so installing it needs no restart."""

    def __init__(self, package: str) -> None:
        self.package = package
        self._found = False

    def __call__(self) -> bool:
        if not self._found:
            self._found = importlib.util.find_spec(self.package) is not None
        return self._found


class BackendType(Protocol):
    """What an entry point in ``hybrid.backends`` must name."""

    Options: type[BackendOptions]

    def build(self, name: str, options: Any) -> Backend: ...


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_types() -> list[str]:
    """Every backend type name this installation knows (scans installed packages)."""
    return sorted({*BUILTIN_TYPES, *_entry_points()})


def load_type(type_name: str) -> BackendType:
    """The plugin for ``type_name``: built in, else from the ``hybrid.backends`` entry points."""
    if type_name in BUILTIN_TYPES:
        plugin: Any = importlib.import_module(BUILTIN_TYPES[type_name])
    else:
        ep = _entry_points().get(type_name)
        if ep is None:
            raise ConfigError(
                f"{type_name!r} is not an installed backend type; installed types: {', '.join(available_types())}"
            )
        try:
            plugin = ep.load()
        except ImportError as e:
            raise ConfigError(f"backend type {type_name!r} ({ep.value}) cannot be imported: {e}") from e
    options = getattr(plugin, "Options", None)
    if not (isinstance(options, type) and issubclass(options, BackendOptions)) or not callable(
        getattr(plugin, "build", None)
    ):
        raise ConfigError(
            f"backend type {type_name!r} ({plugin!r}) must provide Options (a BackendOptions subclass) "
            "and build(name, options)"
        )
    return plugin


def _where(name: str, loc: tuple) -> str:
    return ".".join(["backends", name, *(str(p) for p in loc)])


def validate_backend(name: str, raw: Any) -> BackendOptions:
    """One ``[backends.NAME]`` table, validated by its type's own Options; ValueError names the key."""
    if isinstance(raw, BackendOptions):
        return raw
    if not isinstance(raw, Mapping):
        # ValueError, not TypeError: pydantic turns only ValueError into the settings' validation error.
        raise ValueError(f"backends.{name}: expected a table, got {raw!r}")  # noqa: TRY004
    type_name = raw.get("type")
    if not type_name:
        raise ValueError(f"backends.{name}.type: Field required (e.g. type = \"openai\")")
    try:
        plugin = load_type(str(type_name))
    except ConfigError as e:
        raise ValueError(f"backends.{name}.type: {e}") from e
    try:
        return plugin.Options.model_validate(dict(raw))
    except ValidationError as e:
        problems = []
        for err in e.errors():
            got = "" if err["type"] == "missing" or isinstance(err.get("input"), dict) else f" (got {err['input']!r})"
            if err["type"] == "extra_forbidden":
                got = ""
            problems.append(f"{_where(name, err['loc'])}: {err['msg']}{got}")
        raise ValueError("\n  ".join(problems)) from e


def validate_backends(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, BackendOptions]:
    """Every backend table validated, with each key read from its ``api_key_env``; one ValueError for all problems."""
    env = os.environ if environ is None else environ
    out: dict[str, BackendOptions] = {}
    problems: list[str] = []
    for name, table in raw.items():
        try:
            options = validate_backend(name, table)
        except ValueError as e:
            problems.append(str(e))
            continue
        if options.api_key is None and options.api_key_env and env.get(options.api_key_env):
            options = options.model_copy(update={"api_key": SecretStr(env[options.api_key_env])})
        out[name] = options
    if problems:
        raise ValueError("\n  ".join(problems))
    return out


def build_backend(name: str, options: BackendOptions) -> Backend:
    """The backend for one validated ``[backends.NAME]``. Nothing is loaded or contacted yet."""
    return load_type(options.type).build(name, options)


def build_backends(settings: Any) -> dict[str, Backend]:
    """One backend per ``settings.backends`` entry (``settings`` is a hybrid.settings.Settings)."""
    return {name: build_backend(name, options) for name, options in settings.backends.items()}


def secrets(backends: Mapping[str, BackendOptions]) -> list[str]:
    """Every configured key, for the trace store to scrub."""
    return [o.api_key.get_secret_value() for o in backends.values() if o.api_key is not None]
