"""A transparent rule-of-thumb classifier: length, code, math and reasoning cues.

It implements the DifficultyClassifier protocol with no trained parts, so the
router works before any model artifact exists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hybrid.types import Draft, Request

_REASONING = re.compile(
    r"\b(prove|proof|derive|why|explain|step[- ]by[- ]step|analy[sz]e|compare|design|architect|optimi[sz]e|"
    r"trade-?offs?|implement|debug|refactor|theorem|lemma|algorithm|complexity|strategy|plan)\b",
    re.I,
)
_EASY = re.compile(
    r"\b(classify|sentiment|translate|summari[sz]e|extract|list|define|spell|capital of|yes or no|true or false)\b",
    re.I,
)
_CODE = re.compile(r"```|\bdef |\bclass |#include|\bfunction\b|=>|;\s*$", re.M)
_MATH = re.compile(r"[∫∑√π]|\\frac|\b(integral|derivative|equation|irrational|prime|matrix|probability)\b", re.I)
_REFUSAL = re.compile(r"\b(i can(no|')t|i'm sorry|i am sorry|as an ai|i don't know|unable to)\b", re.I)


@dataclass(frozen=True)
class HeuristicClassifier:
    version: str = "heuristic-1"
    threshold: float = 0.5
    draft_threshold: float = 0.5

    def score(self, request: Request) -> float:
        text = request.prompt
        z = -1.5
        z += 0.6 * math.log1p(len(text.split()) / 40)
        z += 1.2 * min(len(_REASONING.findall(text)), 3)
        z += 1.0 if _CODE.search(text) else 0.0
        z += 1.0 if _MATH.search(text) else 0.0
        z -= 1.0 if _EASY.search(text) else 0.0
        z += 0.3 * max(0, len(request.messages) - 1)
        return 1 / (1 + math.exp(-z))

    def score_draft(self, request: Request, draft: Draft) -> float:
        z = math.log(max(self.score(request), 1e-6) / max(1 - self.score(request), 1e-6))
        if not draft.text.strip():
            z += 4
        if draft.finish_reason == "length":
            z += 1
        if _REFUSAL.search(draft.text):
            z += 2
        if draft.logprobs:
            z -= 2 * (sum(draft.logprobs) / len(draft.logprobs) + 1)
        return 1 / (1 + math.exp(-z))
