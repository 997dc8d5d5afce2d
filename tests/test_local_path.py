"""The fast local path: thread defaults, cutting long prompts before tokenizing and scanning, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from classifiers.embedding import StaticEmbedder, head
from classifiers.features import SCAN_CHARS, prompt_text_features
from hybrid.settings import load_settings
from models import build_backend
from models.llamacpp import default_threads


@pytest.mark.parametrize("cores, threads", [(1, 1), (2, 1), (4, 2), (8, 4), (64, 4)])
def test_the_default_thread_count_is_half_the_cores_at_most_four(cores, threads):
    assert default_threads(cores) == threads


def test_doctor_shows_the_threads_and_a_backend_overrides_them():
    settings = load_settings(backends={"smollm2": {"n_threads": 3}, "big": {"type": "llamacpp"}})
    assert build_backend("smollm2", settings.backends["smollm2"]).health().detail.endswith("(3 threads)")
    one = load_settings(backends={"small": {"type": "llamacpp", "n_threads": 1}}).backends["small"]
    assert build_backend("small", one).health().detail.endswith("(1 thread)")
    default = default_threads()
    assert build_backend("big", settings.backends["big"]).health().detail.endswith(
        f"({default} thread{'s' if default > 1 else ''})")


def test_head_cuts_between_words():
    text = "alpha beta gamma " * 100
    cut = head(text, 50)
    assert len(cut) <= 50 and text.startswith(cut) and cut.endswith(" ")
    assert head("short", 50) == "short"


def test_a_long_prompt_embeds_like_its_head_and_keeps_its_true_length():
    embedder = StaticEmbedder()
    opening = "Summarize the following report about quarterly sales in three bullet points. "
    long_prompt = opening + "The numbers went up and down over the year. " * 500  # about 22,000 characters
    assert np.array_equal(embedder.embed(long_prompt), embedder.embed(long_prompt[:1000]))
    features = prompt_text_features(long_prompt)
    assert features[0] == pytest.approx(np.log1p(len(long_prompt)))  # log_chars is the whole prompt's
    assert features[2] == pytest.approx(np.log1p(1))
    assert len(long_prompt) > 10 * SCAN_CHARS


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_cli_and_the_dashboards_threshold_import_nothing_heavy(isolated_home):
    heavy = {"skops", "sklearn", "onnx", "scipy", "textual", "llama_cpp", "openai", "anthropic", "numpy",
             "detect_secrets", "rich", "diskcache", "pydantic_settings"}
    assert not heavy & imported_after("import hybrid.cli")
    threshold_read = imported_after(
        "from hybrid.runtime import classifier_threshold\nfrom hybrid.settings import Paths, load_settings\n"
        "p = Paths.resolve(); assert 0 < classifier_threshold(load_settings(p), p) < 1"
    )
    assert not heavy & threshold_read


def test_scoring_reads_the_artifact_with_numpy_alone_and_matches_scikit_learn():
    from classifiers.linear import LinearPipeline
    from classifiers.store import load_packaged

    full, plain = load_packaged(), load_packaged(score_only=True)
    assert isinstance(plain.prompt_model, LinearPipeline) and isinstance(plain.draft_model, LinearPipeline)
    rng = np.random.default_rng(7)
    for mode in ("prompt_model", "draft_model"):
        reference, fast = getattr(full, mode), getattr(plain, mode)
        x = rng.normal(size=(64, fast.n_features_in_)) * 2
        np.testing.assert_allclose(fast.predict_proba(x), reference.predict_proba(x), rtol=1e-9, atol=1e-12)


def test_routing_a_request_imports_neither_skops_nor_scikit_learn(isolated_home):
    loaded = imported_after(
        "from hybrid.runtime import load_classifier\nfrom hybrid.settings import Paths, load_settings\n"
        "from hybrid.types import Draft, Request\n"
        "p = Paths.resolve(); c = load_classifier(load_settings(p), p)\n"
        "assert c.unavailable is None, c.unavailable\n"
        "c.score(Request.from_prompt('What is 2+2?')); c.score_draft(Request.from_prompt('2+2?'), Draft('4', 'stop'))"
    )
    assert not {"skops", "sklearn", "scipy"} & loaded


ASK = """
import sys
from hybrid.cli import main
main(["ask", "--no-cache", "--max-tokens", "2", sys.argv[1]], standalone_mode=False)
print("\\nMODULES", " ".join(sorted(sys.modules)))
"""
#: What a one-shot local answer has no use for: the cloud SDKs, the secret detectors (the prompt has nothing
#: they could match), the phone and IBAN checkers (no candidates), tables, scikit-learn. (diskcache is not
#: here: llama-cpp-python imports it itself.)
NOT_ON_THE_LOCAL_PATH = {"anthropic", "httpx", "openai", "ollama", "detect_secrets", "phonenumbers", "stdnum",
                         "rich", "pydantic_settings", "skops", "sklearn", "scipy", "textual"}


def ask_in_a_fresh_process(prompt: str) -> tuple[str, set[str]]:
    out = subprocess.run([sys.executable, "-c", ASK, prompt], capture_output=True, text=True, check=True).stdout
    answer, _, modules = out.rpartition("MODULES ")
    return answer, set(modules.split())


def test_a_one_shot_local_ask_loads_only_what_it_uses_and_still_scans_routes_and_traces(isolated_home):
    from hybrid.settings import Paths
    from hybrid.trace import TraceStore

    answer, loaded = ask_in_a_fresh_process("Name three colours of the rainbow.")
    assert answer.strip() and "llama_cpp" in loaded and "hybrid.privacy" in loaded
    assert not NOT_ON_THE_LOCAL_PATH & loaded
    _, loaded = ask_in_a_fresh_process("Why does my login fail with password = 'Wint3r!Sun#42'?")
    assert "detect_secrets" in loaded  # the scan still runs when a detector could fire
    trace = TraceStore(Paths.resolve().trace_db)
    secret, plain = trace.recent(2)
    trace.close()
    assert plain.status == secret.status == "done" and plain.backend == secret.backend == "smollm2"
    assert any("local-only: Secret Keyword" in reason for reason in secret.reasons)


def test_the_hybrid_command_leaves_its_objects_to_the_os_at_exit(isolated_home):
    """The console script freezes the heap on the way out, so shutdown skips full collections (~0.1 s a run)."""
    from importlib.metadata import entry_points

    assert entry_points(group="console_scripts")["hybrid"].value == "hybrid.cli:entry"
    probe = (
        "import atexit, gc, sys\nfrom hybrid.cli import entry\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
        "sys.argv = ['hybrid', 'logs', '--last', '1']\nentry()"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split("frozen")[-1]) > 1000
