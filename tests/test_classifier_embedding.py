"""The static MiniLM embedding: MiniLM's own word-piece vectors, averaged, no transformer pass."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.embedding import EMBEDDING_DIM, StaticEmbedder, model_file, read_word_table
from hybrid.errors import ClassifierError


@pytest.fixture(scope="module")
def embedder():
    return StaticEmbedder()


def test_a_vector_is_the_normalised_mean_of_the_dequantised_rows(embedder):
    text = "Explain the difference between TCP and UDP."
    table, scale = read_word_table(model_file())
    ids = embedder.token_ids(text)
    assert ids and 101 not in ids and 102 not in ids  # no [CLS]/[SEP]
    mean = (table[ids].astype(np.float32) * scale[ids]).mean(axis=0)
    vector = embedder.embed(text)
    assert vector.shape == (EMBEDDING_DIM,) and vector.dtype == np.float32
    np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)


def test_only_the_first_max_tokens_count(embedder):
    head = "Write a sorting function. " * 20
    assert embedder.token_count(head) == embedder.max_tokens == 48
    tail = " Then a long unrelated tail about cats."
    np.testing.assert_array_equal(embedder.embed(head), embedder.embed(head + tail))


def test_empty_text_embeds_to_zeros(embedder):
    assert not embedder.embed("   \n").any()


def test_a_broken_model_file_is_refused_with_a_fix(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ClassifierError, match="cannot read MiniLM's word embeddings.*fix: pip install"):
        read_word_table(bad)
