"""The built-in backend types, one module each: an ``Options`` model, a ``build(name, options)`` and the backend.

    llamacpp.py       a GGUF file in-process (llama-cpp-python)
    ollama.py         an Ollama server (the ``ollama`` client)
    anthropic.py      the Messages API (the ``anthropic`` SDK)
    openai_compat.py  any OpenAI-compatible server: llama-server, vLLM, LM Studio, Ollama's /v1, gateways

The seam they plug into, and how an outside package adds a type, is :mod:`hybrid.backends`.
"""

from __future__ import annotations

from hybrid.backends import build_backend, build_backends

__all__ = ["build_backend", "build_backends"]
