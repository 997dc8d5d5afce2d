from __future__ import annotations

from dataclasses import dataclass, field

from hybrid.types import CheckResult, Draft, DraftAssessment, Request


@dataclass
class FixedClassifier:
    """Returns the scores it is told to, so tests choose the route.

    For the cascade, ``assess_drafts`` answers ``draft_score`` with the given ``checks``, ``keep`` index and
    ``agreement``, and records the drafts it was shown in ``assessed``.
    """

    prompt_score: float = 0.1
    draft_score: float = 0.1
    threshold: float = 0.5
    draft_threshold: float = 0.5
    version: str = "fixed-test"
    checks: tuple[CheckResult, ...] = ()
    keep: int = 0
    agreement: float | None = None
    assessed: list[tuple[Draft, ...]] = field(default_factory=list)

    def score(self, request: Request) -> float:
        return self.prompt_score

    def score_draft(self, request: Request, draft: Draft) -> float:
        return self.draft_score

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        self.assessed.append(drafts)
        return DraftAssessment(self.draft_score, self.keep, self.checks, self.agreement,
                               reasons=(f"fixed draft score {self.draft_score:.2f}",))
