"""Settings: one pydantic model, read from init > environment > TOML file.

Sources, highest priority first (tables merge key by key):
1. keyword arguments to ``load_settings`` (what the CLI's flags set);
2. environment: ``HYBRID_*`` (nested with ``__``, e.g. ``HYBRID_ROUTING__THRESHOLD=0.4``; a list or table as
   JSON), plus ``ANTHROPIC_API_KEY`` and the variable each backend's ``api_key_env`` names;
3. ``config.toml`` in the user config dir (``$HYBRID_HOME/config.toml`` when set).

The environment is read here rather than by pydantic-settings, whose import alone (a tenth of a second) would
be most of what a one-shot ``hybrid ask`` spends on its own settings.

Settings are passed into constructors; nothing reads a global.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from hybrid.backends import BackendOptions, validate_backends
from hybrid.errors import ConfigError

APP_NAME = "hybrid"
ANTHROPIC_KEY_ENV = "ANTHROPIC_API_KEY"


@dataclass(frozen=True)
class Paths:
    """Where every user file lives. ``HYBRID_HOME`` moves all of them at once."""

    config_file: Path
    data_dir: Path
    cache_dir: Path

    @property
    def trace_db(self) -> Path:
        return self.data_dir / "trace.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "classifiers"

    @property
    def response_cache_dir(self) -> Path:
        return self.cache_dir / "responses"

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get("HYBRID_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root / "config.toml", root / "data", root / "cache")
        import platformdirs  # honours XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_CACHE_HOME on Linux

        return cls(
            Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml",
            Path(platformdirs.user_data_dir(APP_NAME)),
            Path(platformdirs.user_cache_dir(APP_NAME)),
        )


class TaskRule(BaseModel):
    """How one task type is routed, before the difficulty threshold is consulted."""

    model_config = ConfigDict(extra="forbid")

    route: Literal["auto", "local", "cloud"] = "auto"
    """auto: let the classifier decide; local/cloud: always go there."""
    cloud: str | None = None
    """Backend to escalate to for this task; empty means ``routing.cloud``."""
    threshold: float | None = Field(default=None, ge=0, le=1)
    """Per-task threshold; empty means ``routing.threshold``."""


DEFAULT_BACKENDS: dict[str, dict[str, Any]] = {
    "smollm2": {"type": "llamacpp", "model": "SmolLM2-135M-Instruct-Q4_1"},
    "haiku": {"type": "anthropic", "model": "claude-haiku-4-5", "price_input": 1.0, "price_output": 5.0},
    "sonnet": {"type": "anthropic", "model": "claude-sonnet-4-6", "price_input": 3.0, "price_output": 15.0},
    "opus": {"type": "anthropic", "model": "claude-opus-4-6", "price_input": 5.0, "price_output": 25.0},
}

DEFAULT_TASKS: dict[str, dict[str, Any]] = {
    "chat": {},
    "classify": {"cloud": "haiku"},
    "summarize": {"cloud": "haiku"},
    "extract": {"cloud": "haiku"},
    "code": {},
    "write": {},
    "math": {},
    "reason": {"route": "cloud", "cloud": "opus"},
    "judge": {"route": "cloud"},
}


def _merge_defaults(value: Any, defaults: dict[str, dict[str, Any]]) -> Any:
    """User tables add to the defaults, or replace one default entry by name."""
    if value is None:
        return {k: dict(v) for k, v in defaults.items()}
    if not isinstance(value, dict):
        return value
    merged: dict[str, Any] = {k: dict(v) for k, v in defaults.items()}
    for name, spec in value.items():
        if isinstance(spec, dict) and name in merged:
            merged[name] = {**merged[name], **spec}
        else:
            merged[name] = spec
    return merged


class RoutingSettings(BaseModel):
    """How requests are split between local and cloud backends."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, ge=0, le=1)
    """Escalate when the difficulty score is at or above this. Empty means the classifier's calibrated threshold."""
    draft_threshold: float | None = Field(default=None, ge=0, le=1)
    """cascade: escalate a local draft whose answer-aware score is at or above this. Empty means the classifier's."""
    mode: Literal["direct", "cascade"] = "direct"
    """direct: decide from the prompt alone. cascade: answer locally first, escalate if the draft looks inadequate."""
    drafts: int = Field(default=1, ge=1, le=8)
    """cascade: local drafts written per request; with 2 or more, disagreement between them raises the score."""
    draft_temperature: float = Field(default=0.7, ge=0, le=2)
    """cascade: sampling temperature for a further draft from a backend that already wrote one."""
    draft_backends: list[str] = Field(default_factory=list)
    """cascade: local backends that write the further drafts in turn; empty means the drafting backend samples again."""
    local: list[str] = Field(default_factory=lambda: ["smollm2"])
    """Local backends, weakest first. Easy work goes to the first available; hard work with no cloud to the last."""
    cloud: str = "sonnet"
    """Default backend for escalated work."""
    reference: str = "sonnet"
    """Backend whose prices give the all-frontier cost that savings are measured against."""
    sticky: bool = True
    """Once a conversation escalated, keep its later turns on the stronger tier."""
    tasks: dict[str, TaskRule] = Field(default_factory=dict)
    """Rules per task type, checked before the threshold. Defaults cover chat, classify, summarize, extract, code, write, math, reason."""

    @model_validator(mode="before")
    @classmethod
    def _default_tasks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {**data, "tasks": _merge_defaults(data.get("tasks"), DEFAULT_TASKS)}
        return data


class CacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Reuse answers to identical temperature-0 requests."""
    size_limit_mb: int = Field(default=256, ge=1)


class TraceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Log every step to SQLite. ``--no-log`` turns this off for one command."""
    path: Path | None = None
    """Trace database; empty means ``trace.db`` in the user data dir."""
    keep_days: float | None = Field(default=30, gt=0)
    """Retention: requests older than this are pruned (whole pipeline runs at a time). Empty keeps everything."""
    max_mb: float | None = Field(default=1024, gt=0)
    """Retention: past this size (MiB) the oldest requests are pruned. Empty means no limit."""


class OtelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    """Export every finished trace (requests, pipeline runs) as OpenTelemetry spans over OTLP/HTTP. Needs the
    ``otel`` extra."""
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    """OTLP/HTTP traces endpoint (Jaeger, Phoenix, Langfuse, an OpenTelemetry Collector): an http(s) URL."""
    service_name: str = "hybrid"
    """``service.name`` on the exported spans."""
    timeout_s: float = Field(1.0, gt=0, le=30)
    """Most seconds one export may take, retries included: also the most an unreachable collector adds when a
    command exits."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_url(cls, endpoint: str) -> str:
        from urllib.parse import urlsplit

        try:
            url = urlsplit(endpoint)
            ok = url.scheme in ("http", "https") and bool(url.hostname) and (url.port or 1) > 0
        except ValueError:  # a port that is not a number, or out of range
            ok = False
        if not ok:
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:4318/v1/traces, not {endpoint!r}")
        return endpoint


class PrivacySettings(BaseModel):
    """What keeps a request on the local models (see hybrid/privacy.py)."""

    model_config = ConfigDict(extra="forbid")

    scan: bool = True
    """Look for secrets (keys, tokens, private keys, passwords, credentials in URLs) and personal data (emails,
    phone numbers, IBANs and card numbers that pass their checksums) in every request."""
    mode: Literal["local", "redact"] = "local"
    """local: a request holding any of them never reaches a cloud backend. redact: they are replaced by
    placeholders before a cloud call and put back into the answer."""
    local_tasks: list[str] = Field(default_factory=list)
    """Task types that are always local-only, whatever they hold."""
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB", "DE", "FR"])
    """Regions whose national phone formats are recognised (numbers written with +country code always are)."""


class BudgetCap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily: float | None = Field(default=None, ge=0)
    """Most US dollars per calendar day (local time); empty means no daily cap."""
    monthly: float | None = Field(default=None, ge=0)
    """Most US dollars per calendar month (local time); empty means no monthly cap."""


class BudgetSettings(BudgetCap):
    """Spending caps on cloud backends, overall (``daily``, ``monthly``) and per backend (``[budget.backends.X]``)."""

    backends: dict[str, BudgetCap] = Field(default_factory=dict)
    """Caps for one backend, e.g. ``[budget.backends.opus] daily = 0.50``."""


class ClassifierSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path | None = None
    """A classifier artifact (.skops) to use instead of the promoted or shipped one."""


class ServerSettings(BaseModel):
    """``hybrid serve``: where it listens, who may call it, and how much it takes on at once."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Address to bind. Anything but loopback requires ``token``."""
    port: int = Field(default=8787, ge=0, le=65535)
    token: SecretStr | None = None
    """Required from clients (``Authorization: Bearer`` or ``x-api-key``) when set; env ``HYBRID_SERVER__TOKEN``."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Larger request bodies get 413."""
    queue_size: int = Field(default=16, ge=1)
    """Requests admitted per local model (running or waiting); more get 429 with Retry-After."""
    retry_after_s: int = Field(default=2, ge=1)
    workers: int = Field(default=64, ge=1)
    """Threads that run the router; one per request in flight."""
    read_timeout_s: float = Field(default=30.0, gt=0)
    """A request body must arrive within this many seconds (else 408)."""
    keep_alive_s: float = Field(default=5.0, gt=0)
    """An idle kept-alive connection is closed after this many seconds."""
    event_timeout_s: float = Field(default=300.0, gt=0)
    """A request whose router goes this long without an event is cancelled and answered with an error."""


class Settings(BaseModel):
    """Everything hybrid can be told. See README 'Configuration'."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("anthropic_api_key", "HYBRID_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    )
    """Default key for anthropic backends that find nothing in their ``api_key_env``. Never logged or traced."""
    backends: dict[str, BackendOptions] = Field(default_factory=dict)
    """``[backends.NAME]`` tables, each validated by its type's own options model (see hybrid/backends.py)."""
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    trace: TraceSettings = Field(default_factory=TraceSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)

    @model_validator(mode="before")
    @classmethod
    def _default_backends(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {**data, "backends": validate_backends(_merge_defaults(data.get("backends"), DEFAULT_BACKENDS))}
        return data

    @model_validator(mode="after")
    def _default_anthropic_key(self) -> Settings:
        if self.anthropic_api_key is not None:
            for name, options in self.backends.items():
                if options.api_key is None and options.api_key_env == ANTHROPIC_KEY_ENV:
                    self.backends[name] = options.model_copy(update={"api_key": self.anthropic_api_key})
        return self

    @model_validator(mode="after")
    def _names_exist(self) -> Settings:
        known = sorted(self.backends)
        wanted = [("routing.local", n) for n in self.routing.local]
        wanted += [("routing.cloud", self.routing.cloud), ("routing.reference", self.routing.reference)]
        wanted += [(f"routing.tasks.{t}.cloud", r.cloud) for t, r in self.routing.tasks.items() if r.cloud]
        wanted += [("routing.draft_backends", n) for n in self.routing.draft_backends]
        wanted += [(f"budget.backends.{n}", n) for n in self.budget.backends]
        for key, name in wanted:
            if name not in self.backends:
                raise ValueError(f"{key} names backend {name!r}, which is not defined; known backends: {', '.join(known)}")
        for key, names in (("routing.local", self.routing.local), ("routing.draft_backends", self.routing.draft_backends)):
            for name in names:
                if not self.backends[name].local:  # local work is free and private: a cloud one would be neither
                    raise ValueError(f"{key} names {name!r}, a cloud backend (local = false), so every request would "
                                     f"pay for it and leave the machine; fix: list a local backend there, or set "
                                     f"backends.{name}.local = true if it runs on your machine or network")
        if not self.routing.local:
            raise ValueError("routing.local is empty; list at least one local backend, e.g. local = [\"smollm2\"]")
        return self


ENV_PREFIX = "hybrid_"


def _env_value(value: str) -> Any:
    """A list or table given as JSON is decoded; anything else stays text for the field to validate."""
    if value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``HYBRID_*`` variables as nested settings, names in any case: ``HYBRID_ROUTING__THRESHOLD=0.4`` is
    ``{"routing": {"threshold": "0.4"}}``. Variables that name no setting (``HYBRID_HOME``) are left out."""
    env = {name.lower(): value for name, value in environ.items()}
    found: dict[str, Any] = {}
    for name, value in sorted(env.items()):  # a whole table (HYBRID_ROUTING) before its keys
        if not name.startswith(ENV_PREFIX):
            continue
        *parents, leaf = name.removeprefix(ENV_PREFIX).split("__")
        if (parents or [leaf])[0] not in Settings.model_fields:
            if parents:  # HYBRID_SECTION__KEY shaped: a setting meant, misspelt
                sections = ", ".join(k for k in Settings.model_fields if k != "anthropic_api_key")
                raise ConfigError(f"environment variable {name.upper()} names no setting: there is no section "
                                  f"{parents[0]!r} (sections: {sections}); fix: correct or unset it, e.g. "
                                  "HYBRID_ROUTING__THRESHOLD=0.4")
            continue
        node: Any = found
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[leaf] = _env_value(value)
    if ANTHROPIC_KEY_ENV.lower() in env:  # the SDK's own variable wins over HYBRID_ANTHROPIC_API_KEY
        found["anthropic_api_key"] = env[ANTHROPIC_KEY_ENV.lower()]
    return found


def _merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """The layers merged table by table, later ones winning."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = _merged(out[key], value)
            else:
                out[key] = value
    return out


def _read_text(path: Path) -> str | None:
    """The config file's text, or None when there is none; ConfigError when it is not UTF-8 text."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {e.start}: {e.reason}); TOML files must be UTF-8. "
            "Re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or move it aside to use the defaults."
        ) from e
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror}); fix its permissions or move it aside") from e


def _read_toml(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}). Fix the file, or move it aside to use the defaults.") from e


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    msg = error["msg"].removeprefix("Value error, ")
    if "input" in error and error["type"] not in ("missing", "value_error") and not isinstance(error["input"], dict):
        return f"{loc}: {msg} (got {error['input']!r})" if loc else msg
    return f"{loc}: {msg}" if loc else msg


def load_settings(paths: Paths | None = None, **overrides: Any) -> Settings:
    """Read settings from ``overrides`` > environment > the TOML file.

    Raises ConfigError naming the bad key, what was expected and where to fix it.
    """
    paths = paths or Paths.resolve()
    try:
        return Settings.model_validate(_merged(_read_toml(paths.config_file), _from_environment(os.environ), overrides))
    except ValidationError as e:
        problems = "\n  ".join(_describe(err) for err in e.errors())
        raise ConfigError(
            f"invalid settings:\n  {problems}\nFix these keys in {paths.config_file} "
            "(or the matching HYBRID_* environment variables), then `hybrid doctor` checks the result."
        ) from e


def _set_key(table: Any, key: str, value: Any) -> None:
    """Set ``key`` in a tomlkit table; a new key goes right after the table's last key, so the comments and
    blank lines that end the table (which belong to the next one) stay where the user put them."""
    import tomlkit.items

    keys = [k for k, _ in table.value.body if k is not None] if isinstance(table, tomlkit.items.Table) else []
    if key in table or not keys:
        table[key] = value
    else:
        table.value._insert_after(keys[-1], key, value)  # tomlkit has no public "insert after"


def set_config_value(path: Path, dotted_key: str, value: Any) -> None:
    """Write one key into the TOML config file; comments, order and layout of the rest survive (tomlkit)."""
    import tomlkit

    text = _read_text(path) or ""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix it before changing {dotted_key}") from e
    node: Any = doc
    *parents, leaf = dotted_key.split(".")
    for part in parents:
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
    _set_key(node, leaf, value)
    tmp = path.with_suffix(".toml.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise ConfigError(f"cannot write {dotted_key} to {path} ({e.strerror or e}); check that the file and its "
                          "folder are writable, or set the key there by hand") from e
