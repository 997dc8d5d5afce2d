"""The difficulty classifier the router calls: :class:`DifficultyModel`.

It implements ``hybrid.types.DifficultyClassifier``: ``score`` (prompt only,
the ``direct`` policy), ``assess_drafts`` and ``score_draft`` (prompt and
local drafts, the ``cascade`` policy), all in [0, 1], higher = escalate. Every
score is made by :mod:`classifiers.scoring`; ``hybrid classify``, ``hybrid
eval`` and the router call these same methods. The prompt's embedding is
cached per instance (LRU), so scoring the same prompt again (a retry, the
cascade's draft after its prompt) costs no second tokenisation.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from hybrid.types import Draft, DraftAssessment, Request

from .cascade import DraftRules
from .embedding import StaticEmbedder
from .features import draft_vector, prompt_vector
from .scoring import ScoringParams, answer_base, assess, prompt_logit, sigmoid
from .store import Artifact, load_current


class LinearProba:
    """``predict_proba(x)[:, 1]`` of a StandardScaler + LogisticRegression pipeline, as plain numpy.

    The same arithmetic as scikit-learn's, without its per-call input validation (most of a decision's time).
    """

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        steps = [step for _, step in getattr(pipeline, "steps", [])]
        self.parts = None
        if len(steps) == 2 and hasattr(steps[0], "scale_") and hasattr(steps[1], "coef_"):
            scaler, logit = steps
            mean = scaler.mean_ if scaler.mean_ is not None else 0.0
            scale = scaler.scale_ if scaler.scale_ is not None else 1.0
            self.parts = (np.asarray(mean), np.asarray(scale), logit.coef_[0].copy(), float(logit.intercept_[0]))

    def __call__(self, x: np.ndarray) -> float:
        if self.parts is None:
            return float(self.pipeline.predict_proba(x[None, :])[0, 1])
        mean, scale, coef, intercept = self.parts
        z = float(((x - mean) / scale) @ coef) + intercept
        return float(sigmoid(z))


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
        self.params = ScoringParams.from_card(artifact.card)
        self._prompt_proba = LinearProba(artifact.prompt_model)
        self._answer_proba = LinearProba(artifact.draft_model)
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

    def learned_prompt(self, prompt: str) -> float:
        """The learned prompt model's probability alone (before the length prior)."""
        return self._prompt_proba(prompt_vector(prompt, self.embed_prompt(prompt)))

    def learned_answer(self, prompt: str, answer: str) -> float:
        """The learned answer model's probability alone (before checks, agreement and the prompt prior)."""
        return self._answer_proba(draft_vector(prompt, answer))

    def prompt_z(self, prompt: str) -> float:
        """The prompt-only logit; the embedding is skipped when the learned residual has no weight."""
        learned = self.learned_prompt(prompt) if self.params.prompt_weight else 0.5
        return float(prompt_logit(self.params, math.log1p(len(prompt)), learned))

    def score_prompt(self, prompt: str) -> float:
        """The prompt-only score (see :mod:`classifiers.scoring`)."""
        return float(sigmoid(self.prompt_z(prompt)))

    def answer_score(self, prompt: str, answer: str) -> float:
        """The learned answer-aware score on top of the prompt prior, before checks and agreement."""
        prompt_z = self.prompt_z(prompt) if self.params.answer_prompt_weight else 0.0
        return float(answer_base(self.params, prompt_z, self.learned_answer(prompt, answer)))

    def assess(self, prompt: str, drafts: tuple[Draft, ...]) -> DraftAssessment:
        """The cascade's verdict on ``drafts`` of ``prompt``: checks, agreement, learned score."""
        return assess(prompt, drafts, lambda d: self.answer_score(prompt, d.text), self.rules)

    def score(self, request: Request) -> float:
        return self.score_prompt(request.prompt)

    def assess_drafts(self, request: Request, drafts: tuple[Draft, ...]) -> DraftAssessment:
        return self.assess(request.prompt, tuple(drafts))

    def score_draft(self, request: Request, draft: Draft) -> float:
        return self.assess(request.prompt, (draft,)).score


def load_classifier(data_dir: Path | None = None, **kwargs) -> DifficultyModel:
    """The promoted classifier in ``data_dir`` (see ``train``), else the packaged default.

    Raises ``ClassifierError`` if the chosen artifact is missing, changed,
    corrupt or holds an untrusted type. ``kwargs`` go to :class:`DifficultyModel`.
    """
    return DifficultyModel(load_current(data_dir), **kwargs)
