"""The cheap health check every routing decision makes: it says what to install, and it does not search
``sys.path`` for an installed client package on every request."""

from __future__ import annotations

import importlib.util

from pydantic import SecretStr

from models.anthropic import AnthropicBackend
from models.openai_compat import OpenAICompatBackend


def _counting_find_spec(monkeypatch, missing: set[str]) -> list[str]:
    real, calls = importlib.util.find_spec, []

    def find_spec(name, *args, **kwargs):
        calls.append(name)
        return None if name in missing else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return calls


def test_an_installed_client_package_is_looked_for_once_not_on_every_decision(monkeypatch):
    calls = _counting_find_spec(monkeypatch, missing=set())
    cloud = AnthropicBackend("sonnet", model="claude-sonnet-4-6", api_key=SecretStr("sk-ant-test"))
    local = OpenAICompatBackend("vllm", model="qwen", base_url="http://127.0.0.1:1/v1")
    for _ in range(50):
        assert cloud.health().ok and local.health().ok
    assert calls.count("anthropic") == 1 and calls.count("openai") == 1


def test_a_missing_client_package_says_what_to_install_and_is_found_once_installed(monkeypatch):
    missing = {"anthropic"}
    _counting_find_spec(monkeypatch, missing)
    cloud = AnthropicBackend("sonnet", model="claude-sonnet-4-6", api_key=SecretStr("sk-ant-test"))
    health = cloud.health()
    assert not health.ok and "pip install" in health.detail
    missing.clear()  # the user installs it while the server runs: no restart needed
    assert cloud.health().ok
