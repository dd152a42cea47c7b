from __future__ import annotations

import numpy as np
import pytest
from google.genai import errors

from catalog.models import EmbeddingCache
from catalog.search.embeddings import GeminiEmbedder, MiniLMEmbedder, embed_documents_cached, get_embedder, text_sha256
from testsupport.fake_gemini import FakeGemini, fake_vector


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def fake_gemini(settings):
    fake = FakeGemini().start()
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = fake.base_url
    settings.GEMINI_TIMEOUT = 5.0
    yield fake
    fake.stop()


def test_it_embeds_minilm_into_384_normalised_dimensions(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed_documents(["A boy finds a notebook that kills.", "Giants eat people behind walls."])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1.0, 1.0], atol=1e-5)
    query = minilm.embed_query("notebook that kills people")
    assert query.shape == (384,)
    assert float(query @ vectors[0]) > float(query @ vectors[1]) + 0.2


def test_it_pads_a_batch_only_to_its_longest_text(minilm: MiniLMEmbedder) -> None:
    assert minilm.tokenizer.padding["length"] is None
    assert minilm.tokenizer.truncation["max_length"] == 256
    short = "a time traveller stops a kidnapping"
    long = "An orphan raised in a remote village leaves home to become a hunter. " * 20
    alone = minilm.embed_query(short)
    batched = minilm.embed_documents([long, short])
    assert float(alone @ batched[1]) > 0.9999
    # The long text is cut at 256 tokens, not the stock 128.
    encoding = minilm.tokenizer.encode(long)
    assert len(encoding.ids) == 256


def test_it_chooses_the_backend_from_settings(settings) -> None:
    settings.EMBEDDING_BACKEND = "gemini"
    embedder = get_embedder()
    assert (embedder.name, embedder.model, embedder.dimension) == ("gemini", "gemini-embedding-001", 768)
    settings.EMBEDDING_BACKEND = "minilm"
    assert get_embedder().name == "minilm"


def test_it_embeds_with_gemini_through_the_rest_api(fake_gemini: FakeGemini) -> None:
    texts = [f"anime synopsis number {i}" for i in range(150)]
    vectors = GeminiEmbedder().embed_documents(texts)
    assert vectors.shape == (150, 768)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), np.ones(150), atol=1e-5)
    expected = np.array(fake_vector(texts[3], 768), dtype=np.float32)
    np.testing.assert_allclose(vectors[3], expected / np.linalg.norm(expected), atol=1e-6)
    # At most 100 texts a request.
    # google-genai 3.x talks to the stable v1 API by default (2.x used v1beta).
    assert fake_gemini.paths == ["/v1/models/gemini-embedding-001:batchEmbedContents"] * 2
    assert [len(r["requests"]) for r in fake_gemini.requests] == [100, 50]
    first = fake_gemini.requests[0]["requests"][0]
    assert first["taskType"] == "RETRIEVAL_DOCUMENT"
    assert first["outputDimensionality"] == 768
    assert first["content"]["parts"][0]["text"] == "anime synopsis number 0"
    assert fake_gemini.api_keys[0] == "test-key"


def test_it_embeds_a_gemini_query_with_the_query_task_type(fake_gemini: FakeGemini) -> None:
    vector = GeminiEmbedder().embed_query("frieren")
    assert vector.shape == (768,)
    assert fake_gemini.requests[0]["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def test_it_retries_gemini_after_a_429(fake_gemini: FakeGemini) -> None:
    fake_gemini.failures = [429]
    vectors = GeminiEmbedder().embed_documents(["one", "two"])
    assert vectors.shape == (2, 768)
    assert len(fake_gemini.requests) == 2


def test_it_gives_up_after_repeated_500s(fake_gemini: FakeGemini, settings) -> None:
    settings.GEMINI_RETRIES = 2
    fake_gemini.failures = [500, 500, 500]
    with pytest.raises(errors.ServerError):
        GeminiEmbedder().embed_documents(["one"])
    assert len(fake_gemini.requests) == 2


def test_it_embeds_each_text_once_through_the_cache(db, fake_gemini: FakeGemini) -> None:
    embedder = GeminiEmbedder()
    texts = ["first synopsis", "second synopsis", "first synopsis"]
    first = embed_documents_cached(texts, embedder=embedder)
    assert len(fake_gemini.requests) == 1
    assert len(fake_gemini.requests[0]["requests"]) == 2
    assert EmbeddingCache.objects.filter(backend="gemini", dimension=768).count() == 2
    row = EmbeddingCache.objects.get(text_sha256=text_sha256("second synopsis"))
    np.testing.assert_array_equal(np.frombuffer(row.vector, dtype=np.float32), first[1])

    again = embed_documents_cached([*texts, "third synopsis"], embedder=embedder)
    assert len(fake_gemini.requests) == 2
    assert [r["content"]["parts"][0]["text"] for r in fake_gemini.requests[1]["requests"]] == ["third synopsis"]
    np.testing.assert_array_equal(again[:3], first)
    np.testing.assert_array_equal(again[0], again[2])
