"""The routing evaluation suite: every mode on every labelled shared set, in domain and left out.

For each set in ``../shared/data`` (:mod:`classifiers.datasets`) and each mode
the set supports:

* ``prompt``: prompt-only (the ``direct`` policy);
* ``draft``: answer-aware with one draft (the ``cascade`` policy, k = 1);
* ``draft x2``: answer-aware with a second cheap model's answer as a second
  draft (k = 2), where the set has one (MMLU-Pro: Llama-3.1-8B; AlpacaEval:
  another small model's answer),

it scores two classifiers through the same code the router uses
(:func:`classifiers.evaluation.prompt_scores` / ``draft_scores``):

* ``default``: the packaged default (trained on MMLU-Pro and GSM8K, so in
  domain there, out of domain on AlpacaEval);
* ``left out``: refitted on the other sets only with the default's design,
  then tested on this one (leave one data set out),

beside random, prompt length, shorter answer and the oracle, all as RouteLLM's
APGR, CPT(50%) and CPT(80%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .blend import Design, fit
from .data import Example
from .datasets import LabelledSet, load_set
from .difficulty import DifficultyModel
from .embedding import StaticEmbedder
from .evaluation import ModeReport, draft_assessments, mode_report, prompt_scores
from .store import Artifact, load_packaged
from .vectors import Matrices, featurize

SETS = ("mmlu_pro", "gsm8k", "alpacaeval", "smollm2_gsm8k")
#: Sets only ever tested on, never trained on (the shipped local model's own drafts).
EVAL_ONLY = ("smollm2_gsm8k",)
#: Sets the packaged default was trained on (its rows there are in domain).
DEFAULT_TRAINED_ON = ("mmlu_pro", "gsm8k")
#: Sets whose one-draft rows are also reported per source (``SuiteRow.by_source``): AlpacaEval's sources are
#: its six small models, MMLU-Pro's the three origins of its questions. (GSM8K's are the kinds of corruption
#: of its made-up drafts, each all right or all wrong, so a source alone has nothing to rank.)
BY_SOURCE = ("mmlu_pro", "alpacaeval")


@dataclass(frozen=True)
class SuiteRow:
    """One set and mode: each classifier's report (with the baselines beside it).

    ``by_source``: for one draft on the ``BY_SOURCE`` sets, the same reports on each source's items alone
    (AlpacaEval: six small models, each a weak model a deployment might run; MMLU-Pro: three origins of the
    questions). A deployment ranks one local model's drafts, so these are its numbers; the pooled row also
    ranks the models against each other."""

    dataset: str
    mode: str
    reports: dict[str, ModeReport]
    by_source: tuple[tuple[str, dict[str, ModeReport]], ...] = ()


def _sample(examples: tuple[Example, ...], limit: int | None) -> list[Example]:
    if limit is None or len(examples) <= limit:
        return list(examples)
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]


def modes(s: LabelledSet, limit: int | None) -> dict[str, list[Example]]:
    """The examples of each mode this set supports."""
    out: dict[str, list[Example]] = {}
    if s.prompts:
        out["prompt"] = _sample(s.prompts, limit)
    drafts = _sample(s.drafts, limit)
    if drafts:
        out["draft"] = [replace(e, answers=(), answers_weak=()) for e in drafts]
        if any(e.answers for e in drafts):
            out["draft x2"] = drafts
    return out


def leave_out_classifier(
    left_out: str, matrices: dict[str, Matrices], design: Design, embedder: StaticEmbedder
) -> DifficultyModel:
    """A classifier fitted on every set but ``left_out`` (answers beyond the first draft are never trained on)."""
    data = Matrices.empty()
    for name, m in matrices.items():
        if name != left_out:
            data = data + m
    fitted = fit(data, design)
    card = {**load_packaged().card, "version": f"without-{left_out}", "scoring": fitted.params.as_dict()}
    return DifficultyModel(Artifact(fitted.prompt_model, fitted.draft_model, card, "suite"), embedder=embedder)


def run_suite(
    data_dir: Path,
    names: tuple[str, ...] = SETS,
    *,
    limit: int | None = None,
    leave_out: bool = True,
    only: tuple[str, ...] | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> list[SuiteRow]:
    """Every mode of every set in ``names``, scored by the default and (with ``leave_out``) the left-out model.

    ``limit`` caps the items per set and mode (an even sample) for a quick run; ``only`` keeps those modes.
    """
    embedder = StaticEmbedder()
    sets = {name: load_set(name, data_dir, second_draft=True) for name in names}
    default = DifficultyModel(load_packaged(), embedder=embedder)
    design = Design.from_card(default.artifact.card)
    matrices = {}
    if leave_out and len(set(sets) - set(EVAL_ONLY)) > 1:
        for name, s in sets.items():
            if name in EVAL_ONLY:
                continue
            say(f"{name}: features")
            wants_drafts = only is None or any(m != "prompt" for m in only)
            matrices[name] = featurize(list(s.prompts), list(s.drafts) if wants_drafts else [], embedder)
    rows = []
    for name, s in sets.items():
        classifiers = {"default": default}
        if matrices and name not in EVAL_ONLY:
            say(f"{name}: fitting on the other sets")
            classifiers["left out"] = leave_out_classifier(name, matrices, design, embedder)
        for mode, examples in modes(s, limit).items():
            if only is not None and mode not in only:
                continue
            say(f"{name}: {mode} ({len(examples)} items)")
            reports = {}
            sources = sorted({e.source for e in examples}) if mode == "draft" and name in BY_SOURCE else []
            of_source = {source: [i for i, e in enumerate(examples) if e.source == source]
                         for source in sources if len(sources) > 1}
            by_source: dict[str, dict[str, ModeReport]] = {source: {} for source in of_source}
            for label, clf in classifiers.items():
                if mode == "prompt":
                    reports[label] = mode_report("prompt", prompt_scores(clf, examples), examples)
                    continue
                verdicts = draft_assessments(clf, examples)
                # The cascade answers with the draft it keeps, so that draft's quality is the one kept local.
                kept = [e.kept(v.keep) for e, v in zip(examples, verdicts)]
                scores = np.array([v.score for v in verdicts])
                reports[label] = mode_report("draft", scores, kept)
                for source, mine in of_source.items():
                    by_source[source][label] = mode_report("draft", scores[mine], [kept[i] for i in mine])
            rows.append(SuiteRow(name, mode, reports, tuple(by_source.items())))
    return rows


_COLUMNS = ["n", "default", "left out", "random", "prompt length", "shorter answer", "oracle"]


def _metric_cells(reports: dict[str, ModeReport], metric: str) -> list[str]:
    """The items counted, then the classifiers' ``metric`` beside the baselines' (``_COLUMNS``), "–" where one
    is missing."""
    first = next(iter(reports.values()))
    found = [reports.get("default"), reports.get("left out")]
    models = [r.model if r else None for r in found]
    baselines = [first.baselines.get(n) for n in ("random", "prompt_length", "short_answer", "oracle")]
    return [str(first.model.n), *(f"{getattr(m, metric):.3f}" if m else "–" for m in (*models, *baselines))]


def _markdown(head: list[str], lines: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(cells) + " |" for cells in lines)])


def table(rows: list[SuiteRow], metric: str = "apgr") -> str:
    """A Markdown table: one line per set and mode, the classifiers beside the baselines."""
    return _markdown(["set", "mode", *_COLUMNS], [
        [row.dataset + (" (in domain)" if row.dataset in DEFAULT_TRAINED_ON else ""), row.mode,
         *_metric_cells(row.reports, metric)]
        for row in rows
    ])


def table_by_source(rows: list[SuiteRow], metric: str = "apgr") -> str:
    """A Markdown table of the rows that have sources: one line per source, laid out as ``table``."""
    return _markdown(["set", "mode", "source", *_COLUMNS], [
        [row.dataset, row.mode, source.split(":", 1)[-1], *_metric_cells(reports, metric)]
        for row in rows for source, reports in row.by_source
    ])


def never_below_prompt_length(rows: list[SuiteRow], label: str = "left out", slack: float = 0.0) -> list[str]:
    """The prompt-only rows where ``label`` ranks below prompt length (APGR), as words; empty when none."""
    out = []
    for row in rows:
        report = row.reports.get(label)
        if row.mode == "prompt" and report is not None:
            gap = report.model.apgr - report.baselines["prompt_length"].apgr
            if gap < -slack:
                out.append(f"{row.dataset}: {label} APGR {report.model.apgr:.3f} < prompt length "
                           f"{report.baselines['prompt_length'].apgr:.3f}")
    return out


def mean_apgr(rows: list[SuiteRow], label: str) -> dict[tuple[str, str], float]:
    return {(r.dataset, r.mode): float(np.round(r.reports[label].model.apgr, 3)) for r in rows if label in r.reports}
