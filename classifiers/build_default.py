"""Rebuild the packaged default artifact from permissively licensed data only.

    python -m classifiers.build_default --data ../shared/data [--out classifiers/artifacts] [--with-alpacaeval]

Training data: MMLU-Pro STEM (questions MIT, result files Apache-2.0; Mixtral's
answers, Mixtral and gemini correctness) and GSM8K train (MIT) with generated
drafts (see :mod:`classifiers.datasets`). Llama answers are never used here.
AlpacaEval (CC BY-NC 4.0) joins the training data only with
``--with-alpacaeval``, and the card then says the artifact is non-commercial.

Protocol:

1. answer features whose standardised coefficient, or whose correlation with
   the target, has opposite signs on AlpacaEval and on MMLU-Pro are held at
   zero (no weights are ever fitted on AlpacaEval for this; it only vetoes
   features);
2. the blend of priors and learned parts (:class:`classifiers.blend.Design`)
   is chosen by leave-one-source-out runs over the training sources (MMLU-Pro's
   stemez, theoremQA and scibench questions, and GSM8K): the prompt residual's
   weight is the one with the best mean APGR among those never below prompt
   length on any held-out source; the answer blend is the one whose worst
   held-out source is best;
3. the shipped model is fitted on all training data with that design.

The out-of-domain numbers (AlpacaEval, and each set left out) come from
``benchmarks/routing.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .blend import (
    DRAFT_COLUMNS,
    PROMPT_LENGTH_COLUMN,
    Design,
    Fitted,
    answer_coefficients,
    answer_correlations,
    fit,
    sign_flips,
)
from .calibrate import DEFAULT_ESCALATION_SHARE, calibrate_threshold
from .card import examples_sha256, make_card
from .cascade import DraftRules, DraftSignals
from .data import Example
from .datasets import LICENCES, alpacaeval, gsm8k, mmlu_pro
from .difficulty import DifficultyModel
from .embedding import StaticEmbedder
from .evaluation import draft_scores
from .latency import decision_latency, one_core, summary
from .metrics import apgr, quality_metrics
from .scoring import answer_base, prompt_logit, run_draft_checks, sigmoid, verdict
from .store import DEFAULT_FEATURES, DEFAULT_NAME, Artifact, write_artifact
from .vectors import DRAFT_C, PROMPT_C, Matrices, featurize, predict

PROMPT_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
ANSWER_BLENDS = ((1.0, 0.0), (1.0, 0.25), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0), (2.0, 1.0))
COEFFICIENT_FLIP = 0.05
CORRELATION_FLIP = 0.02
VERSION = "default-2026.11.28-permissive"


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _source(e: Example) -> str:
    return e.source.split(":")[0] if e.source.startswith("gsm8k") else e.source


def _rows(m: Matrices, mask: np.ndarray, mode: str) -> Matrices:
    empty = Matrices.empty()
    if mode == "prompt":
        return Matrices(m.prompt_x[mask], m.prompt_t[mask], empty.draft_x, empty.draft_t)
    return Matrices(empty.prompt_x, empty.prompt_t, m.draft_x[mask], m.draft_t[mask])


def _quality(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([e.weak_quality for e in examples]), np.array([e.strong for e in examples])


def choose_prompt_weight(prompts: list[Example], m: Matrices) -> tuple[float, dict]:
    """Leave-one-source-out over the prompt sources; the best mean APGR never below prompt length."""
    sources = np.array([_source(e) for e in prompts])
    weak, strong = _quality(prompts)
    table: dict[str, dict[str, float]] = {}
    for held in sorted(set(sources)):
        mask = sources == held
        fitted = fit(_rows(m, ~mask, "prompt"), Design())
        learned = predict(fitted.prompt_model, m.prompt_x[mask])
        gains = strong[mask] - weak[mask]
        row = {"prompt_length": apgr(m.prompt_x[mask, PROMPT_LENGTH_COLUMN], gains)}
        for w in PROMPT_WEIGHTS:
            params = fitted.params.__class__(**{**fitted.params.as_dict(), "prompt_weight": w})
            row[str(w)] = apgr(sigmoid(prompt_logit(params, m.prompt_x[mask, PROMPT_LENGTH_COLUMN], learned)), gains)
        table[held] = row
        _say(f"  prompt LOSO {held}: " + " ".join(f"{k}={v:.3f}" for k, v in row.items()))
    safe = [w for w in PROMPT_WEIGHTS if all(r[str(w)] >= r["prompt_length"] - 1e-9 for r in table.values())]
    best = max(safe, key=lambda w: np.mean([r[str(w)] for r in table.values()]))
    return best, table


def choose_answer_blend(
    drafts: list[Example], m: Matrices, prompt_learned: dict[str, np.ndarray], design: Design
) -> tuple[tuple[float, float], dict]:
    """Leave-one-source-out over the draft sources, with the answer checks, for each answer blend."""
    sources = np.array([_source(e) for e in drafts])
    weak, strong = _quality(drafts)
    rules = DraftRules()
    checks = [run_draft_checks(e.prompt, e.drafts()[0]) for e in drafts]
    # The fixed rules' signals (length lean, off-options, token confidence), so each blend is judged as it scores.
    signals = [DraftSignals.of(e.drafts()[0], e.prompt) for e in drafts]
    log_chars = np.array([np.log1p(len(e.prompt)) for e in drafts])
    table: dict[str, dict[str, float]] = {}
    for held in sorted(set(sources)):
        mask = sources == held
        prompt_rows = _rows(prompt_learned["matrices"], prompt_learned["sources"] != held, "prompt")
        fitted: Fitted = fit(_rows(m, ~mask, "draft") + prompt_rows, design)
        answer_p = predict(fitted.draft_model, m.draft_x[mask])
        prompt_p = predict(fitted.prompt_model, prompt_learned["draft_prompt_x"][mask])
        prompt_z = prompt_logit(fitted.params, log_chars[mask], prompt_p)
        idx = np.flatnonzero(mask)
        row = {}
        for aw, apw in ANSWER_BLENDS:
            params = fitted.params.__class__(
                **{**fitted.params.as_dict(), "answer_weight": aw, "answer_prompt_weight": apw}
            )
            base = answer_base(params, prompt_z, answer_p)
            scores = [verdict(rules.confidence(float(b), signals[i]), checks[i], None, 0, "", rules).score
                      for b, i in zip(base, idx)]
            row[f"{aw}/{apw}"] = quality_metrics(np.array(scores), weak[mask], strong[mask]).apgr
        table[held] = row
        _say(f"  answer LOSO {held}: " + " ".join(f"{k}={v:.3f}" for k, v in row.items()))
    # The most robust blend: the best worst held-out source.
    best = max(ANSWER_BLENDS, key=lambda b: min(r[f"{b[0]}/{b[1]}"] for r in table.values()))
    return best, table


def _latency(artifact: Artifact, prompts: list[Example], drafts: list[Example]) -> dict:
    clf = DifficultyModel(artifact)
    pairs = [(e.prompt, e.answer) for e in drafts]
    with one_core():
        wall = decision_latency(clf, [e.prompt for e in prompts], pairs)
        cpu = decision_latency(clf, [e.prompt for e in prompts], pairs, clock=time.thread_time)
    out = {mode: summary(t) for mode, t in cpu.items()}
    _say("latency, CPU time, one core: " + ", ".join(f"{m} p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms"
                                                      for m, s in out.items()))
    return {
        **out,
        "wall_time_on_the_build_machine": {mode: summary(t) for mode, t in wall.items()},
        "load_average": round(os.getloadavg()[0], 1),
        "cpu": _cpu_name(),
        "note": "CPU time per decision, features and answer checks included, one core (wall time beside it: the "
        "build machine may be shared); see benchmarks/classifier.py",
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(data_dir: Path, out_dir: Path, *, with_alpacaeval: bool = False) -> Path:
    embedder = StaticEmbedder()
    mmlu, maths = mmlu_pro(data_dir), gsm8k(data_dir)
    alpaca = alpacaeval(data_dir)
    prompts = list(mmlu.prompts) + (list(alpaca.prompts) if with_alpacaeval else [])
    drafts = list(mmlu.drafts) + list(maths.drafts) + (list(alpaca.drafts) if with_alpacaeval else [])
    _say(f"training: {len(prompts)} prompts, {len(drafts)} drafts")
    m = featurize(prompts, drafts, embedder)

    _say("1. answer features whose sign flips between AlpacaEval and MMLU-Pro")
    a_m = featurize([], list(alpaca.drafts), embedder)
    mm = featurize([], list(mmlu.drafts), embedder)
    coefs = {"alpacaeval": answer_coefficients(a_m.draft_x, a_m.draft_t),
             "mmlu_pro": answer_coefficients(mm.draft_x, mm.draft_t)}
    corrs = {"alpacaeval": answer_correlations(a_m.draft_x, a_m.draft_t),
             "mmlu_pro": answer_correlations(mm.draft_x, mm.draft_t)}
    flips = {**sign_flips(coefs, COEFFICIENT_FLIP), **sign_flips(corrs, CORRELATION_FLIP)}
    _say(f"  dropped: {sorted(flips)}")

    _say("2. leave-one-source-out choice of the blend")
    weight, prompt_table = choose_prompt_weight(prompts, m)
    design = Design(prompt_weight=weight, dropped=tuple(sorted(flips)))
    prompt_part = {
        "matrices": Matrices(m.prompt_x, m.prompt_t, Matrices.empty().draft_x, Matrices.empty().draft_t),
        "sources": np.array([_source(e) for e in prompts]),
        "draft_prompt_x": featurize(drafts, [], embedder).prompt_x,
    }
    (aw, apw), answer_table = choose_answer_blend(drafts, m, prompt_part, design)
    design = Design(weight, aw, apw, design.dropped)
    _say(f"  design: {design.as_dict()}")

    _say("3. fit on all training data")
    fitted = fit(m, design)
    share = DEFAULT_ESCALATION_SHARE
    prompt_scores = sigmoid(
        prompt_logit(fitted.params, m.prompt_x[:, PROMPT_LENGTH_COLUMN], predict(fitted.prompt_model, m.prompt_x))
    )
    licences = [LICENCES["mmlu_pro"], LICENCES["gsm8k"]] + ([LICENCES["alpacaeval"]] if with_alpacaeval else [])
    training = {
        "data": {
            "mmlu_pro_stem.jsonl.gz": "question text, Mixtral-8x7B-Instruct answers, Mixtral and gemini-1.5-pro "
            "correctness (Llama-3.1-8B answers are not used)",
            "gsm8k_train.jsonl.gz": f"{len(maths.drafts) // 2} problems: gold solutions rewritten as drafts "
            "(label 0) and one corrupted copy each (label 1: a miscomputed step, a wrong final number, a "
            "cut-off solution, or one that stops before its answer)",
            **(
                {"alpacaeval_preferences.jsonl": "805 prompts x 6 small models, judged win probability"}
                if with_alpacaeval
                else {}
            ),
        },
        "sources": licences,
        "licence": (
            "non-commercial: includes AlpacaEval data (CC BY-NC 4.0)"
            if with_alpacaeval
            else "permissive: MMLU-Pro questions MIT, result files Apache-2.0, Mixtral answers Apache-2.0; "
            "GSM8K MIT; generated drafts are derived from GSM8K"
        ),
        "alpacaeval": (
            "trained on (opt-in --with-alpacaeval)"
            if with_alpacaeval
            else "not trained on; its answers were used only to veto answer features whose sign flips"
        ),
        "prompt_examples": len(prompts),
        "draft_examples": len(drafts),
        "data_sha256": examples_sha256(prompts + drafts),
        "dropped_answer_features": {
            "rule": f"dropped when the standardised coefficient (each |c| >= {COEFFICIENT_FLIP}) or the "
            f"correlation with the target (each |r| >= {CORRELATION_FLIP}) has opposite signs on AlpacaEval "
            "and MMLU-Pro",
            "flipped": sorted(flips),
            "coefficients": {ds: dict(zip(DRAFT_COLUMNS, np.round(c, 3).tolist())) for ds, c in coefs.items()},
            "correlations": {ds: dict(zip(DRAFT_COLUMNS, np.round(c, 3).tolist())) for ds, c in corrs.items()},
        },
        "selection": {
            "prompt_weight_leave_one_source_out_apgr": prompt_table,
            "answer_blend_leave_one_source_out_apgr": answer_table,
        },
        "caveats": [
            (
                "hybrid's local model (SmolLM2-135M) is much weaker than Mixtral; retrain on your own traces "
                "with `hybrid train --from-trace` (checks on your own drafts become labels)."
            ),
            (
                "The GSM8K drafts are generated from gold solutions, so answer-aware numbers there mostly "
                "measure the answer checks."
            ),
            (
                "Prompt-only routing out of domain is close to prompt length by design: the learned residual "
                "is shrunk so that it never ranks below prompt length on a held-out source."
            ),
        ],
    }
    card = make_card(
        version=VERSION + ("-nc" if with_alpacaeval else ""),
        threshold=calibrate_threshold(prompt_scores, share),
        draft_threshold=0.5,
        escalation_share=share,
        training=training,
        metrics={},
        embedder=embedder,
        hyperparameters={"prompt_C": PROMPT_C, "draft_C": DRAFT_C},
        scoring=fitted.params.as_dict(),
        design=design.as_dict(),
    )
    artifact = Artifact(fitted.prompt_model, fitted.draft_model, card, "build")
    card["draft_threshold"] = calibrate_threshold(draft_scores(DifficultyModel(artifact, embedder=embedder), drafts), share)
    card["latency"] = _latency(artifact, prompts[:300], drafts[:300])
    path = write_artifact(out_dir, DEFAULT_NAME, fitted.prompt_model, fitted.draft_model, card)
    np.savez_compressed(
        out_dir / DEFAULT_FEATURES,
        prompt_x=m.prompt_x.astype(np.float16),
        prompt_t=m.prompt_t.astype(np.float32),
        draft_x=m.draft_x.astype(np.float32),
        draft_t=m.draft_t.astype(np.float32),
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "artifacts")
    parser.add_argument("--with-alpacaeval", action="store_true",
                        help="also train on AlpacaEval (CC BY-NC 4.0: the artifact is then non-commercial)")
    args = parser.parse_args(argv)
    print(build(args.data, args.out, with_alpacaeval=args.with_alpacaeval))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
