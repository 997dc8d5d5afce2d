"""Import contracts: the core stays usable without the TUI, and nothing loads at import time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_tui():
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("hybrid", "models", "classifiers")
        for path in (ROOT / package).rglob("*.py")
        if any(
            line.strip().startswith(("import tui", "from tui", "import textual", "from textual"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_importing_the_core_loads_no_backend_library():
    code = (
        "import sys, hybrid, hybrid.cli, models, hybrid.runtime;"
        "print(sorted(m for m in ('tui', 'textual', 'anthropic', 'ollama', 'llama_cpp', 'onnxruntime')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
