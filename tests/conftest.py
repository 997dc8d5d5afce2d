from __future__ import annotations

import pytest

_CLEARED = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own HYBRID_HOME and no keys or hosts from the developer's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("HYBRID_") or name in _CLEARED:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "hybrid-home"
    monkeypatch.setenv("HYBRID_HOME", str(home))
    return home


@pytest.fixture
def cloud(monkeypatch):
    """The fake Anthropic Messages API on 127.0.0.1, with a key set and every cloud backend pointed at it."""
    from tests.fakes.anthropic_api import DEFAULT_KEY, FakeAnthropicAPI

    with FakeAnthropicAPI() as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_KEY)
        for name in ("HAIKU", "SONNET", "OPUS"):
            monkeypatch.setenv(f"HYBRID_BACKENDS__{name}__BASE_URL", api.url)
        yield api
