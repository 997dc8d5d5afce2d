"""The difficulty classifier the router calls: :class:`DifficultyModel`.

It implements ``hybrid.types.DifficultyClassifier``: ``score`` (prompt only,
the ``direct`` policy) and ``score_draft`` (prompt and local draft, the
``cascade`` policy), both in [0, 1], higher = escalate. The prompt's
embedding is cached per instance (LRU), so scoring the same prompt again (a
retry, a cached conversation step) costs no second tokenisation. ``score_draft``
needs no embedding at all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from hybrid.types import Draft, DraftAssessment, Request

from .cascade import DraftRules, DraftSignals
from .embedding import StaticEmbedder
from .features import draft_vector, prompt_vector
from .store import Artifact, load_current


class DifficultyModel:
    """Scores requests with a loaded :class:`Artifact`; the embedder loads on first use.

    ``threshold`` applies to :meth:`score` and ``draft_threshold`` to
    :meth:`score_draft`: escalate when the score is at or above it.
    """

    def __init__(
        self,
        artifact: Artifact,
        *,
        embedder: StaticEmbedder | None = None,
        rules: DraftRules | None = None,
        cache_size: int = 512,
    ) -> None:
        self.artifact = artifact
        self.version = artifact.version
        self.threshold = artifact.threshold
        self.draft_threshold = artifact.draft_threshold
        self.rules = rules if rules is not None else DraftRules()
        self.embedder = embedder if embedder is not None else StaticEmbedder()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed_prompt(self, prompt: str) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(prompt)
            if hit is not None:
                self._cache.move_to_end(prompt)
                return hit
        emb = self.embedder.embed(prompt)
        with self._lock:
            self._cache[prompt] = emb
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return emb

    def score_prompt(self, prompt: str) -> float:
        x = prompt_vector(prompt, self.embed_prompt(prompt))
        return float(self.artifact.prompt_model.predict_proba(x[None, :])[0, 1])

    def score_answer(self, prompt: str, answer: str) -> float:
        """The learned answer-aware score, before the truncation/confidence rules."""
        x = draft_vector(prompt, answer)
        return float(self.artifact.draft_model.predict_proba(x[None, :])[0, 1])

    def score(self, request: Request) -> float:
        return self.score_prompt(request.prompt)

    def score_draft(self, request: Request, draft: Draft) -> float:
        return self.rules.apply(self.score_answer(request.prompt, draft.text), DraftSignals.of(draft))

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        return DraftAssessment(self.score_draft(request, drafts[0]))


def load_classifier(data_dir: Path | None = None, **kwargs) -> DifficultyModel:
    """The promoted classifier in ``data_dir`` (see ``train``), else the packaged default.

    Raises ``ClassifierError`` if the chosen artifact is missing, changed,
    corrupt or holds an untrusted type. ``kwargs`` go to :class:`DifficultyModel`.
    """
    return DifficultyModel(load_current(data_dir), **kwargs)
