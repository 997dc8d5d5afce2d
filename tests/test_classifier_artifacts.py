"""Artifacts load only when their bytes match the card and every type is on the allowlist."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import numpy as np
import pytest

from classifiers import load_classifier
from classifiers.store import (
    TRUSTED_TYPES,
    load_file,
    load_packaged,
    promote,
    schema_types,
    sha256_bytes,
)
from hybrid.errors import ClassifierError


@pytest.fixture()
def default_copy(tmp_path):
    """The packaged default copied into a temp dir, promoted there."""
    root = resources.files("classifiers.artifacts")
    skops_path = tmp_path / "copy.skops"
    skops_path.write_bytes(root.joinpath("default.skops").read_bytes())
    skops_path.with_suffix(".json").write_text(root.joinpath("default.json").read_text())
    promote(tmp_path, skops_path)
    return skops_path


def _tiny_pipeline(first_step):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    x = np.random.default_rng(0).normal(size=(20, 3))
    return Pipeline([("first", first_step), ("logit", LogisticRegression())]).fit(x, np.arange(20) % 2)


def test_default_artifact_holds_only_trusted_types():
    data = resources.files("classifiers.artifacts").joinpath("default.skops").read_bytes()
    types = schema_types(data)
    assert "sklearn.linear_model._logistic.LogisticRegression" in types
    assert types <= set(TRUSTED_TYPES), f"untrusted types in the default artifact: {types - set(TRUSTED_TYPES)}"


def test_trusted_list_is_explicit_and_excludes_callables():
    assert "sklearn.preprocessing._function_transformer.FunctionTransformer" not in TRUSTED_TYPES
    assert not any(t.startswith(("builtins.function", "numpy.ufunc", "operator.")) for t in TRUSTED_TYPES)


def test_packaged_default_loads_with_its_card():
    artifact = load_packaged()
    assert artifact.version.startswith("default-")
    assert 0.0 < artifact.threshold < 1.0
    assert "permissive" in artifact.card["training"]["licence"]
    assert artifact.card["scoring"]["length_weight"] == 1.0 and "prompt_weight" in artifact.card["design"]


def test_changed_bytes_are_refused(default_copy, tmp_path):
    data = bytearray(default_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    default_copy.write_bytes(bytes(data))
    with pytest.raises(ClassifierError, match="does not match its data card.*fix:"):
        load_classifier(tmp_path)


def test_corrupt_file_with_matching_card_is_refused(default_copy, tmp_path):
    data = b"this is not a skops file"
    default_copy.write_bytes(data)
    card_path = default_copy.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["skops_sha256"] = sha256_bytes(data)
    card_path.write_text(json.dumps(card))
    with pytest.raises(ClassifierError, match="corrupt"):
        load_classifier(tmp_path)


def test_injected_untrusted_type_is_refused_even_with_a_matching_card(default_copy, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    evil = _tiny_pipeline(FunctionTransformer(np.exp))
    data = sio.dumps({"prompt": evil, "draft": evil})
    default_copy.write_bytes(data)
    card_path = default_copy.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["skops_sha256"] = sha256_bytes(data)  # an attacker who also rewrites the card
    card_path.write_text(json.dumps(card))
    with pytest.raises(ClassifierError, match="untrusted types.*FunctionTransformer"):
        load_file(default_copy)


def test_missing_card_is_refused(default_copy):
    default_copy.with_suffix(".json").unlink()
    with pytest.raises(ClassifierError, match="missing; fix"):
        load_file(default_copy)


def test_card_for_other_features_is_refused(default_copy):
    card_path = default_copy.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["features_version"] = "something-else"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ClassifierError, match="trained on features 'something-else'"):
        load_file(default_copy)


def test_pointer_outside_its_folder_is_refused(tmp_path):
    (tmp_path / "current.json").write_text(json.dumps({"artifact": "../elsewhere.skops"}))
    with pytest.raises(ClassifierError, match="does not name an artifact in its folder"):
        load_classifier(tmp_path)


def test_no_pointer_means_the_packaged_default(tmp_path):
    assert load_classifier(tmp_path).version == load_packaged().version


def test_promoted_artifact_wins_over_the_default(default_copy, tmp_path):
    card_path = default_copy.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["version"] = "user-test"
    card_path.write_text(json.dumps(card))
    other = tmp_path / "sub"
    other.mkdir()
    shutil.copy(default_copy, other / default_copy.name)
    shutil.copy(card_path, other / card_path.name)
    promote(other, other / default_copy.name)
    assert load_classifier(other).version == "user-test"


def test_the_default_card_names_its_sources_and_permissive_licences():
    training = load_packaged().card["training"]
    assert set(training["data"]) == {"mmlu_pro_stem.jsonl.gz", "gsm8k_train.jsonl.gz"}
    sources = " ".join(training["sources"])
    assert "MMLU-Pro" in sources and "GSM8K" in sources and "MIT" in sources and "Apache-2.0" in sources
    assert "permissive" in training["licence"] and "CC BY-NC" not in training["licence"]
    assert "Llama-3.1-8B answers are not used" in training["data"]["mmlu_pro_stem.jsonl.gz"]
    dropped = training["dropped_answer_features"]
    assert set(load_packaged().card["design"]["dropped"]) == set(dropped["flipped"])
    assert "answer_log_chars" in dropped["flipped"]  # longer is better on AlpacaEval, worse on MMLU-Pro
    for name in dropped["flipped"]:
        coefs, corrs = (dropped[kind] for kind in ("coefficients", "correlations"))
        assert min(c["alpacaeval"] * c["mmlu_pro"] for c in ({k: v[name] for k, v in t.items()}
                                                             for t in (coefs, corrs))) < 0, name


def test_the_current_classifier_is_decided_in_one_place(default_copy, tmp_path):
    from classifiers.store import resolve_current

    assert resolve_current(None, tmp_path / "empty").origin == "packaged"
    promoted = resolve_current(None, tmp_path)
    assert (promoted.origin, promoted.path) == ("promoted", default_copy)
    configured = tmp_path / "mine.skops"
    shutil.copy(default_copy, configured)
    shutil.copy(default_copy.with_suffix(".json"), configured.with_suffix(".json"))
    chosen = resolve_current(configured, tmp_path)
    assert (chosen.origin, chosen.path) == ("configured", configured)
    assert "classifier.path" in chosen.describe() and str(configured) in chosen.describe()
