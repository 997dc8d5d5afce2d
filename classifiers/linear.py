"""Scoring a verified artifact without importing skops or scikit-learn (they take over a second to import).

An artifact's two models are ``Pipeline(StandardScaler, LogisticRegression)``, i.e. a scaled dot product
and a sigmoid. :func:`read_models` reads exactly those fitted arrays (``mean_``, ``scale_``, ``coef_``,
``intercept_``) from the skops file's own layout (``schema.json`` plus ``.npy`` members, loaded with
``allow_pickle=False``) into :class:`LinearPipeline`, which predicts the same probabilities with numpy.
Anything else in the file returns None and the caller loads it with skops. It is used only to *score*
(``hybrid.runtime`` passes it to ``classifiers.store.load_current``); training and saving keep the
scikit-learn objects. The artifact's card, sha256 and trusted types are checked by the store first, as always.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

STEPS = (("StandardScaler", "sklearn.preprocessing._data"), ("LogisticRegression", "sklearn.linear_model._logistic"))


@dataclass(frozen=True)
class LinearPipeline:
    """``predict_proba`` of a fitted binary StandardScaler -> LogisticRegression pipeline."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @property
    def n_features_in_(self) -> int:
        return int(self.coef.shape[0])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])


def _json(node: dict) -> Any:
    return json.loads(node["content"]) if node.get("__loader__") == "JsonNode" else None


def _pipeline(zf: zipfile.ZipFile, node: dict) -> LinearPipeline | None:
    def array(attrs: dict, key: str) -> np.ndarray:
        with zf.open(attrs[key]["file"]) as f:
            return np.load(io.BytesIO(f.read()), allow_pickle=False)

    if (node.get("__class__"), node.get("__module__")) != ("Pipeline", "sklearn.pipeline"):
        return None
    steps = node["content"]["content"]["steps"]["content"]
    estimators = [step["content"][1] for step in steps]
    if [(e.get("__class__"), e.get("__module__")) for e in estimators] != list(STEPS):
        return None
    scaler, logit = (e["content"]["content"] for e in estimators)
    if _json(scaler["with_mean"]) is not True or _json(scaler["with_std"]) is not True:
        return None
    classes, coef, intercept = array(logit, "classes_"), array(logit, "coef_"), array(logit, "intercept_")
    if classes.tolist() != [0, 1] or coef.shape[0] != 1 or intercept.shape != (1,):
        return None
    return LinearPipeline(array(scaler, "mean_"), array(scaler, "scale_"), coef[0].astype(np.float64),
                          float(intercept[0]))


def read_models(data: bytes) -> tuple[LinearPipeline, LinearPipeline] | None:
    """The prompt and draft pipelines of skops ``data`` as LinearPipelines, or None if they are anything else."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            content = json.loads(zf.read("schema.json"))["content"]
            models = (_pipeline(zf, content["prompt"]), _pipeline(zf, content["draft"]))
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError, OSError):
        return None
    return None if None in models else models
