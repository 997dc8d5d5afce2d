"""Scoring a JSONL file, as ``hybrid classify --input F [--output F]`` does.

Each input line is ``{"id": str, "prompt": str, "answer"?: str, "answers"?:
[str], "finish_reason"?: str}``; each output line is ``{"id", "score"}``. Lines
with an ``answer`` are scored as the cascade scores its drafts (answer checks,
agreement with the further ``answers``, the learned answer score), the rest as
the direct policy scores a prompt: both through the same
:class:`~classifiers.difficulty.DifficultyModel` methods the router calls. A
malformed line is reported by its number and skipped; every good line is
still scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hybrid.types import Draft

from .data import parse_drafts
from .difficulty import DifficultyModel
from .jsonl import LineError, read_jsonl_objects
from .vectors import Progress, no_progress


@dataclass(frozen=True)
class Scored:
    id: str
    score: float
    mode: str
    line: int


@dataclass(frozen=True)
class ClassifyResult:
    """The scores of the good lines, in file order, and the rejected lines."""

    results: tuple[Scored, ...]
    errors: tuple[LineError, ...]


def _validate(obj: dict) -> tuple[str, str, tuple[Draft, ...]]:
    item_id, prompt = obj.get("id"), obj.get("prompt")
    if not isinstance(item_id, str) or not item_id:
        raise ValueError('"id" must be a non-empty string')
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError('"prompt" must be a non-empty string')
    answer, answers, finish_reason = parse_drafts(obj)
    if answer is None:
        return item_id, prompt, ()
    return item_id, prompt, (Draft(answer, finish_reason), *(Draft(a) for a in answers))


def classify_file(
    classifier: DifficultyModel,
    input_path: Path,
    output_path: Path | None = None,
    progress: Progress = no_progress,
) -> ClassifyResult:
    """Score every good line of ``input_path``; write ``{"id", "score"}`` lines to ``output_path``."""
    errors: list[LineError] = []
    items: list[tuple[int, str, str, tuple[Draft, ...]]] = []
    for number, obj in read_jsonl_objects(Path(input_path), errors):
        try:
            items.append((number, *_validate(obj)))
        except ValueError as e:
            errors.append(LineError(number, str(e)))
    results = []
    for i, (number, item_id, prompt, drafts) in enumerate(items):
        if drafts:
            results.append(Scored(item_id, classifier.assess(prompt, drafts).score, "draft", number))
        else:
            results.append(Scored(item_id, classifier.score_prompt(prompt), "prompt", number))
        progress("classify", i + 1, len(items))
    if output_path is not None:
        lines = (json.dumps({"id": r.id, "score": round(r.score, 6)}) + "\n" for r in results)
        Path(output_path).write_text("".join(lines), encoding="utf-8")
    errors.sort(key=lambda e: e.line)
    return ClassifyResult(tuple(results), tuple(errors))
