"""A classifier that never fails a request: the learned one while it works, a transparent rule when it does not.

``GuardedClassifier`` loads the learned classifier when it is made. If loading or scoring raises (an artifact
removed, changed or corrupt; the tokenizer or embedding table missing; a library that will not import), it
says why once and from then on scores by rule:

* the task rule still comes first: the policy applies ``routing.tasks.<task>.route`` before any score;
* then prompt length: ``score = min(1, characters / (2 * LONG_PROMPT_CHARS))`` against threshold 0.5, so a
  prompt of ``LONG_PROMPT_CHARS`` characters or more escalates;
* a cascade draft is escalated only when it was cut off (``finish_reason == "length"``).

``unavailable`` holds the reason (None while the learned classifier works); the router adds it to the
decision's reasons and ``hybrid doctor`` prints it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from hybrid.errors import ClassifierError
from hybrid.types import Decision, DifficultyClassifier, Draft, DraftAssessment, Request

LONG_PROMPT_CHARS = 1000
RULE_VERSION = "rule:prompt-length"
RULE_THRESHOLD = 0.5
#: What loading or applying a broken artifact raises: our own error, a missing library, bad file contents.
CLASSIFIER_FAILURES = (ClassifierError, ImportError, OSError, ValueError, KeyError, RuntimeError)


def rule_score(prompt: str) -> float:
    return min(1.0, len(prompt) / (2 * LONG_PROMPT_CHARS))


def rule_draft_score(draft: Draft) -> float:
    return 1.0 if draft.finish_reason == "length" else 0.0


class GuardedClassifier:
    """Implements ``DifficultyClassifier`` around ``load``; falls back to the length rule when it fails."""

    def __init__(self, load: Callable[[], DifficultyClassifier]) -> None:
        self._load = load
        self._inner: DifficultyClassifier | None = None
        self._lock = threading.Lock()
        self.unavailable: str | None = None
        self._classifier()

    def _classifier(self) -> DifficultyClassifier | None:
        if self._inner is None and self.unavailable is None:
            with self._lock:
                if self._inner is None and self.unavailable is None:
                    try:
                        self._inner = self._load()
                    except CLASSIFIER_FAILURES as e:
                        self._fail(e)
        return self._inner

    def _fail(self, e: Exception) -> None:
        self.unavailable = f"{type(e).__name__}: {e}" if not isinstance(e, ClassifierError) else str(e)
        self._inner = None

    @property
    def reason(self) -> str | None:
        """What the decision should say while the rule is in use."""
        if self.unavailable is None:
            return None
        return (f"classifier unavailable ({self.unavailable}); scored by rule: prompt length "
                f"({LONG_PROMPT_CHARS}+ characters escalates)")

    @property
    def version(self) -> str:
        inner = self._classifier()
        return inner.version if inner is not None else RULE_VERSION

    @property
    def threshold(self) -> float:
        inner = self._classifier()
        return inner.threshold if inner is not None else RULE_THRESHOLD

    @property
    def draft_threshold(self) -> float:
        inner = self._classifier()
        return inner.draft_threshold if inner is not None else RULE_THRESHOLD

    def score(self, request: Request) -> float:
        inner = self._classifier()
        if inner is not None:
            try:
                return float(inner.score(request))
            except CLASSIFIER_FAILURES as e:
                self._fail(e)
        return rule_score(request.prompt)

    def score_draft(self, request: Request, draft: Draft) -> float:
        inner = self._classifier()
        if inner is not None:
            try:
                return float(inner.score_draft(request, draft))
            except CLASSIFIER_FAILURES as e:
                self._fail(e)
        return rule_draft_score(draft)

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        inner = self._classifier()
        if inner is not None:
            try:
                return inner.assess_drafts(request, drafts)
            except CLASSIFIER_FAILURES as e:
                self._fail(e)
        draft = drafts[0]
        why = "cut off by max_tokens" if draft.finish_reason == "length" else "kept: not cut off"
        return DraftAssessment(rule_draft_score(draft), reasons=(f"rule ({self.reason}): {why}",))


def with_classifier_note(decision: Decision, classifier: object) -> Decision:
    """``decision``, its reasons opened with why the rule scored it when ``classifier`` fell back to it."""
    note = classifier.reason if isinstance(classifier, GuardedClassifier) else None
    return dataclasses.replace(decision, reasons=(note, *decision.reasons)) if note else decision
