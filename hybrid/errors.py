"""Every error hybrid raises on purpose, as one small tree::

    HybridError                  anything hybrid raises on purpose
    ├── ConfigError              a bad settings file, env var or option: names the key and the fix
    │   └── PipelineError        a bad pipeline (file): a cycle, a missing step, an unknown task, a bad template
    ├── RequestError             a request the router cannot take (empty prompt, unknown task)
    │   ├── RequestCancelled     the caller stopped it part-way (the dashboard quit mid-demo)
    │   ├── BadFlag              a local-only flag that is neither true nor false (hybrid/privacy.py)
    │   └── PinnedOffLimits      a cloud backend pinned for a request that must stay local (hybrid/guards.py)
    ├── BackendError             a backend failed; carries ``backend`` and ``retryable``
    │   ├── BackendUnavailable   it cannot be used at all right now (no key, model file missing, server down)
    │   └── ContextOverflow      the prompt does not fit the model's context window
    ├── PipelineFailed           a pipeline step failed: names the step, its model and the error
    ├── ClassifierError          a classifier artifact is missing, corrupt or untrusted
    └── TraceError               the trace store cannot be opened or read

Vendor exceptions are wrapped with ``raise ... from e``. Messages say what
went wrong and what to do about it.
"""

from __future__ import annotations


class HybridError(Exception):
    """Root of every error hybrid raises on purpose."""


class ConfigError(HybridError):
    """A setting is missing or invalid."""


class PipelineError(ConfigError):
    """A pipeline definition is invalid; raised before any step runs."""


class PipelineFailed(HybridError):
    """A pipeline ran, and a step failed; the steps that needed it were not run."""

    def __init__(self, run_id: str, step: str, message: str, cancelled: list[str]) -> None:
        skipped = f"; not run because of it: {', '.join(cancelled)}" if cancelled else ""
        super().__init__(f"{message}{skipped}. See `hybrid logs --tree {run_id}` for its input and output.")
        self.run_id = run_id
        self.step = step


class RequestError(HybridError):
    """The request itself is invalid."""


class RequestCancelled(RequestError):
    """The caller stopped the request before it finished."""


class BackendError(HybridError):
    """A backend call failed.

    ``retryable`` is True for transient failures (rate limits, overload,
    connection loss) where another attempt or another backend may succeed.
    """

    def __init__(self, backend: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend
        self.retryable = retryable


class BackendUnavailable(BackendError):
    """The backend cannot serve requests at all right now."""

    def __init__(self, backend: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(backend, message, retryable=retryable)


class ContextOverflow(BackendError):
    """The prompt is longer than the backend's context window: the client must shorten it."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(backend, message, retryable=False)


class ClassifierError(HybridError):
    """A classifier could not be loaded, trained or applied."""


class TraceError(HybridError):
    """The trace store failed."""
