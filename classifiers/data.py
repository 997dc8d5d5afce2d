"""Labelled examples: the shipped AlpacaEval preferences and the user's label files.

A label line is ``{"prompt", "answer"?, "label": 0|1}`` (1 = needed the
frontier model) or ``{"prompt", "answer"?, "win": float}`` (the local model's
win probability against the frontier model). Both become a *target*
``t = P(needs escalation)``: ``label`` as is, ``win`` as ``1 - win``.

Splits are made by prompt (a hash of the prompt id and a seed), so the six
answers to one AlpacaEval prompt never straddle train, validation and test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hybrid.errors import ClassifierError

from .jsonl import LineError, read_jsonl_objects

SPLIT_SEED = "hybrid-clf-2026"
#: Share of prompts in each split, by hash bucket: train, validation, sealed test.
SPLIT_SHARES = (("train", 0.6), ("val", 0.2), ("test", 0.2))


@dataclass(frozen=True)
class Example:
    """One labelled decision: a prompt, optionally a draft answer, and its target."""

    group: str
    prompt: str
    target: float
    answer: str | None = None
    source: str = "user"


def split_of(group: str, seed: str = SPLIT_SEED) -> str:
    """``train``, ``val`` or ``test`` for a prompt id, stable across runs and machines."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, share in SPLIT_SHARES:
        edge += share
        if u < edge:
            return name
    return SPLIT_SHARES[-1][0]


def prompt_group(prompt: str) -> str:
    """A stable id for a prompt that has none (user label files)."""
    return hashlib.sha256(prompt.strip().encode()).hexdigest()[:16]


def _target_of(obj: dict) -> float:
    if "label" in obj:
        label = obj["label"]
        if isinstance(label, bool) or label not in (0, 1):
            raise ValueError('"label" must be 0 or 1')
        return float(label)
    if "win" in obj:
        win = obj["win"]
        if isinstance(win, bool) or not isinstance(win, (int, float)) or not 0.0 <= win <= 1.0:
            raise ValueError('"win" must be a number in [0, 1]')
        return 1.0 - float(win)
    raise ValueError('needs "label" (0 or 1) or "win" (a number in [0, 1])')


def parse_label(obj: dict) -> Example:
    """One label line as an :class:`Example`; ``ValueError`` names what is wrong."""
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError('"prompt" must be a non-empty string')
    answer = obj.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise ValueError('"answer" must be a string when present')
    return Example(group=prompt_group(prompt), prompt=prompt, target=_target_of(obj), answer=answer)


def read_labels(path: Path) -> tuple[list[Example], list[LineError]]:
    """Every good label line of ``path``, and the bad ones by line number."""
    examples: list[Example] = []
    errors: list[LineError] = []
    for number, obj in read_jsonl_objects(path, errors):
        try:
            examples.append(parse_label(obj))
        except ValueError as e:
            errors.append(LineError(number, str(e)))
    return examples, errors


def load_alpacaeval(path: Path) -> list[dict]:
    """The AlpacaEval preference rows (805 prompts, six small models each)."""
    if not path.is_file():
        raise ClassifierError(f"{path} not found; fix: pass the folder that holds alpacaeval_preferences.jsonl")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def prompt_examples(rows: Iterable[dict]) -> list[Example]:
    """Prompt-only targets: ``t = 1 - mean(p)`` over the six small models."""
    out = []
    for row in rows:
        wins = list(row["win_vs_gpt4_1106"].values())
        out.append(
            Example(
                group=str(row["id"]),
                prompt=row["prompt"],
                target=1.0 - sum(wins) / len(wins),
                source="alpacaeval",
            )
        )
    return out


def draft_examples(rows: Iterable[dict]) -> list[Example]:
    """Answer-aware targets: one example per (prompt, small model's answer), ``t = 1 - p``."""
    out = []
    for row in rows:
        for model, win in sorted(row["win_vs_gpt4_1106"].items()):
            out.append(
                Example(
                    group=str(row["id"]),
                    prompt=row["prompt"],
                    target=1.0 - float(win),
                    answer=row["answers"][model],
                    source=f"alpacaeval:{model}",
                )
            )
    return out


def in_holdout(group: str, share: float, seed: str = SPLIT_SEED) -> bool:
    """Whether a prompt id falls in a ``share``-sized holdout (stable, by hash)."""
    digest = hashlib.sha256(f"{seed}:holdout:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def alpacaeval_split(rows: Iterable[dict], splits: Iterable[str]) -> tuple[list[Example], list[Example]]:
    """Prompt-only and answer-aware examples of the AlpacaEval prompts in ``splits``."""
    wanted = set(splits)
    chosen = [row for row in rows if split_of(str(row["id"])) in wanted]
    return prompt_examples(chosen), draft_examples(chosen)
