from __future__ import annotations

from dataclasses import dataclass

from hybrid.types import Draft, DraftAssessment, Request


@dataclass
class FixedClassifier:
    """Returns the scores it is told to, so tests choose the route."""

    prompt_score: float = 0.1
    draft_score: float = 0.1
    threshold: float = 0.5
    draft_threshold: float = 0.5
    version: str = "fixed-test"

    def score(self, request: Request) -> float:
        return self.prompt_score

    def score_draft(self, request: Request, draft: Draft) -> float:
        return self.draft_score

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        return DraftAssessment(self.draft_score, reasons=(f"fixed draft score {self.draft_score:.2f}",))
