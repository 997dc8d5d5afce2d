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

from hybrid.errors import ClassifierError
from hybrid.types import Draft

from .data import parse_drafts
from .difficulty import DifficultyModel
from .jsonl import LineError, read_jsonl_objects
from .vectors import Progress, no_progress

#: Decimals of a score in ``hybrid classify``'s output, on stdout and in ``--output`` alike.
SCORE_DECIMALS = 6


@dataclass(frozen=True)
class Scored:
    id: str
    score: float
    mode: str
    line: int

    def as_line(self) -> dict[str, str | float]:
        """The output line: ``{"id", "score"}``."""
        return {"id": self.id, "score": round(self.score, SCORE_DECIMALS)}


def _check_writable(path: Path) -> None:
    """Fail before any scoring when ``--output`` cannot be written, not after it."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as e:
        raise ClassifierError(f"cannot write {path}: {e.strerror or e}; fix: pass --output a path in a folder "
                              "that exists and that you can write to") from e


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
    first_line: dict[str, int] = {}
    for number, obj in read_jsonl_objects(Path(input_path), errors):
        try:
            item = _validate(obj)
        except ValueError as e:
            errors.append(LineError(number, str(e)))
            continue
        if item[0] in first_line:
            errors.append(LineError(number, f"id {item[0]!r} repeats line {first_line[item[0]]}; fix: give each "
                                            "line its own id"))
            continue
        first_line[item[0]] = number
        items.append((number, *item))
    if not items and not errors:
        raise ClassifierError(f"{input_path} holds no lines to score; fix: write one JSON object per line, e.g. "
                              '{"id": "1", "prompt": "Capital of France?"}')
    if output_path is not None:
        _check_writable(Path(output_path))
    results = []
    for i, (number, item_id, prompt, drafts) in enumerate(items):
        if drafts:
            results.append(Scored(item_id, classifier.assess(prompt, drafts).score, "draft", number))
        else:
            results.append(Scored(item_id, classifier.score_prompt(prompt), "prompt", number))
        progress("classify", i + 1, len(items))
    if output_path is not None:
        lines = (json.dumps(r.as_line()) + "\n" for r in results)
        Path(output_path).write_text("".join(lines), encoding="utf-8")
    errors.sort(key=lambda e: e.line)
    return ClassifyResult(tuple(results), tuple(errors))
