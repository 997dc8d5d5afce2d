"""Rebuild the packaged default artifact from the AlpacaEval preferences.

    python -m classifiers.build_default --data ../shared/data [--out classifiers/artifacts]

Protocol (fixed seed, split by prompt id, see :mod:`classifiers.data`):
features and hyper-parameters were chosen by 5-fold cross-validation grouped
by prompt on the train+validation prompts only; this script reports that
cross-validation, the train-only model on the validation split, fits the
shipped model on train+validation, scores it once on the sealed test split
and times its decisions on one core. All of it goes in the card.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

from .calibrate import DEFAULT_ESCALATION_SHARE, calibrate_threshold
from .card import examples_sha256, make_card
from .crossval import FOLDS, cross_val_scores
from .data import SPLIT_SEED, SPLIT_SHARES, alpacaeval_split, load_alpacaeval
from .difficulty import DifficultyModel
from .embedding import StaticEmbedder
from .evaluation import mode_report
from .latency import decision_latency, one_core, summary
from .store import DEFAULT_FEATURES, DEFAULT_NAME, Artifact, write_artifact
from .vectors import DRAFT_C, PROMPT_C, featurize, fit_soft, predict

DATA_FILE = "alpacaeval_preferences.jsonl"


def _report(title: str, scores, m, prompt_ex, draft_ex):
    prompt = mode_report("prompt", scores[0], m.prompt_t, [e.prompt for e in prompt_ex])
    draft = mode_report("draft", scores[1], m.draft_t, [e.prompt for e in draft_ex], [e.answer for e in draft_ex])
    print(f"\n{title}")
    for mode in (prompt, draft):
        for name, r in mode.rows():
            print(
                f"  {mode.mode:7} {name:13} n={r.n:5d} auc={r.auc:.3f} apgr={r.apgr:.3f} cpt50={r.cpt50:.3f} cpt80={r.cpt80:.3f}"
            )
    return {"prompt": prompt, "draft": draft}


def _latency(artifact: Artifact, prompt_ex, draft_ex) -> dict:
    """Decision latency of the new model on the sealed test prompts, one core (as benchmarks/classifier.py)."""
    clf = DifficultyModel(artifact)
    with one_core():
        times = decision_latency(clf, [e.prompt for e in prompt_ex], [(e.prompt, e.answer) for e in draft_ex])
    out = {mode: summary(t) for mode, t in times.items()}
    shown = ", ".join(f"{m} p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms" for m, s in out.items())
    print(f"\nlatency, one core: {shown}")
    note = "per decision, features included, one core; see benchmarks/classifier.py"
    return {**out, "cpu": _cpu_name(), "note": note}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(data_dir: Path, out_dir: Path) -> Path:
    rows = load_alpacaeval(data_dir / DATA_FILE)
    embedder = StaticEmbedder()
    parts = {}
    for split in ("train", "val", "test"):
        p_ex, d_ex = alpacaeval_split(rows, [split])
        parts[split] = (p_ex, d_ex, featurize(p_ex, d_ex, embedder))
        print(f"{split}: {len(p_ex)} prompts, {len(d_ex)} answers", file=sys.stderr)

    dev = parts["train"][2] + parts["val"][2]
    dev_prompt_ex = parts["train"][0] + parts["val"][0]
    dev_draft_ex = parts["train"][1] + parts["val"][1]
    cv_scores = (
        cross_val_scores(dev.prompt_x, dev.prompt_t, [e.group for e in dev_prompt_ex], PROMPT_C),
        cross_val_scores(dev.draft_x, dev.draft_t, [e.group for e in dev_draft_ex], DRAFT_C),
    )
    cv_title = f"{FOLDS}-fold cross-validation on train+val, grouped by prompt"
    cv = _report(cv_title, cv_scores, dev, dev_prompt_ex, dev_draft_ex)

    tr, va = parts["train"][2], parts["val"][2]
    val_models = (fit_soft(tr.prompt_x, tr.prompt_t, PROMPT_C), fit_soft(tr.draft_x, tr.draft_t, DRAFT_C))
    val_scores = (predict(val_models[0], va.prompt_x), predict(val_models[1], va.draft_x))
    val = _report("validation (model fitted on train)", val_scores, va, *parts["val"][:2])

    models = (fit_soft(dev.prompt_x, dev.prompt_t, PROMPT_C), fit_soft(dev.draft_x, dev.draft_t, DRAFT_C))
    te = parts["test"][2]
    test_scores = (predict(models[0], te.prompt_x), predict(models[1], te.draft_x))
    test = _report("SEALED TEST (model fitted on train+val)", test_scores, te, *parts["test"][:2])

    share = DEFAULT_ESCALATION_SHARE
    training = {
        "data": "AlpacaEval preferences (tatsu-lab/alpaca_eval, weighted_alpaca_eval_gpt4_turbo annotations): "
        "805 prompts x 6 small models, judged win probability vs GPT-4-1106-preview",
        "licence": "data CC BY-NC 4.0 (non-commercial use only); code Apache-2.0",
        "file": DATA_FILE,
        "split": {"seed": SPLIT_SEED, "by": "prompt id (sha256 bucket)", "shares": dict(SPLIT_SHARES)},
        "trained_on": ["train", "val"],
        "prompt_examples": len(dev_prompt_ex),
        "draft_examples": len(dev_draft_ex),
        "data_sha256": examples_sha256(dev_prompt_ex + dev_draft_ex),
        "selection": (
            "features, truncation and C chosen by 5-fold cross-validation grouped by prompt on train+val "
            "(metrics.cross_validation). Prompt-only candidates, CV APGR on these folds: static MiniLM "
            "word-piece embeddings at 48 tokens 0.528 (shipped; 0.530 +- 0.003 over 5 other fold seeds; "
            "32/64 tokens 0.528/0.528), the int8 MiniLM transformer at 64/32/16 tokens 0.532/0.527/0.519 "
            "(paired 95% interval of static48 - transformer64: +-0.010; the transformer costs 8.7/20.7 ms "
            "p50/p99 per decision at 64 tokens, over the 5 ms budget even at 16), word or character TF-IDF "
            "0.519-0.521, text features alone 0.509. The sealed test split was scored once, after the "
            "design was fixed"
        ),
        "caveats": [
            (
                "The small models here are 1B-9B chat models; hybrid's local model (SmolLM2-135M) is weaker, "
                "so its real escalation rate is higher and the answer-aware features may transfer imperfectly: "
                "retrain on your own traces with `hybrid train`."
            ),
            (
                "Prompt-only routing on these labels is weak (as in RouteLLM out of domain): it beats random "
                "and prompt length, but recovers only a fraction of the oracle's lift."
            ),
            "Labels come from a GPT-4-turbo judge with length-controlled weighting; judge biases carry over.",
            (
                "On the sealed test split the static prompt-only model scored APGR 0.529 against 0.551 for the "
                "previous transformer-based one (paired bootstrap difference -0.022, 95% interval -0.043 to "
                "-0.000, 156 prompts), a larger gap than cross-validation (-0.004) or validation (0.000) showed."
            ),
        ],
    }
    card = make_card(
        version="default-2026.11.28-static48",
        threshold=calibrate_threshold(predict(models[0], dev.prompt_x), share),
        draft_threshold=calibrate_threshold(predict(models[1], dev.draft_x), share),
        escalation_share=share,
        training=training,
        metrics={
            "cross_validation": {mode: r.model for mode, r in cv.items()},
            "validation": {mode: r.model for mode, r in val.items()},
            "sealed_test": {mode: r.model for mode, r in test.items()},
            "sealed_test_baselines": {
                f"{mode}:{name}": m for mode, r in test.items() for name, m in r.baselines.items()
            },
        },
        embedder=embedder,
        hyperparameters={"prompt_C": PROMPT_C, "draft_C": DRAFT_C},
    )
    card["latency"] = _latency(Artifact(models[0], models[1], card, "build"), *parts["test"][:2])
    path = write_artifact(out_dir, DEFAULT_NAME, models[0], models[1], card)
    np.savez_compressed(
        out_dir / DEFAULT_FEATURES,
        prompt_x=dev.prompt_x.astype(np.float32),
        prompt_t=dev.prompt_t,
        draft_x=dev.draft_x.astype(np.float32),
        draft_t=dev.draft_t,
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding alpacaeval_preferences.jsonl")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "artifacts")
    args = parser.parse_args(argv)
    print(build(args.data, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
