"""The Qdrant index of the catalogue: one collection per embedding backend+model+dimension
(switching backends never mixes vectors), point id = MAL id, a named dense vector and a sparse
keyword vector (``Modifier.IDF``), and the payload the filters need.

``anime_index`` is idempotent: a point whose document hash is unchanged is skipped, and the
texts it embeds go through the embedding cache, so re-indexing an unchanged catalogue embeds
nothing and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db.models import QuerySet
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from catalog.models import Anime
from catalog.search.documents import anime_document_text, anime_genre_names, anime_keyword_text, anime_titles
from catalog.search.embeddings import Embedder, embed_documents_cached, get_embedder
from catalog.search.keywords import document_sparse
from catalog.search.qdrant import qdrant_is_local, qdrant_session

DENSE = "dense"
SPARSE = "keywords"
BATCH = 256
# The payload fields filtered on; a Qdrant server gets an index on each.
PAYLOAD_INDEXES: dict[str, qm.PayloadSchemaType] = {
    "genres": qm.PayloadSchemaType.KEYWORD,
    "type": qm.PayloadSchemaType.KEYWORD,
    "tier": qm.PayloadSchemaType.KEYWORD,
    "franchise_key": qm.PayloadSchemaType.KEYWORD,
    "year": qm.PayloadSchemaType.INTEGER,
    "score": qm.PayloadSchemaType.FLOAT,
    "members": qm.PayloadSchemaType.INTEGER,
}


@dataclass
class IndexStats:
    indexed: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.indexed + self.unchanged


def collection_name(embedder: Embedder | None = None) -> str:
    embedder = embedder or get_embedder()
    model = re.sub(r"[^a-z0-9]+", "-", embedder.model.lower()).strip("-")
    return f"anime__{embedder.name}__{model}__{embedder.dimension}"


def collection_ensure(client: QdrantClient, embedder: Embedder, *, recreate: bool = False) -> str:
    name = collection_name(embedder)
    exists = client.collection_exists(name)
    if exists and recreate:
        client.delete_collection(name)
        exists = False
    if not exists:
        client.create_collection(
            name,
            vectors_config={DENSE: qm.VectorParams(size=embedder.dimension, distance=qm.Distance.COSINE)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        )
        if not qdrant_is_local():
            for field_name, schema in PAYLOAD_INDEXES.items():
                client.create_payload_index(name, field_name=field_name, field_schema=schema)
    return name


def anime_payload(anime: Anime) -> dict[str, object]:
    return {
        "mal_id": anime.mal_id,
        "title": anime.title,
        "titles": anime_titles(anime),
        "genres": anime_genre_names(anime),
        "type": anime.type,
        "year": anime.year,
        "score": anime.score,
        "tier": anime.tier,
        "members": anime.members or 0,
        "franchise_key": anime.franchise_key,
    }


# Bump when the keyword tokenizer or BM25 weighting changes: every point is then rewritten on the
# next pass (the dense vectors still come from the embedding cache).
INDEX_FORMAT = "bm25-crc32-v1"


def _document_hash(dense_text: str, keyword_text: str, payload: dict[str, object]) -> str:
    blob = json.dumps([INDEX_FORMAT, dense_text, keyword_text, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _stored_hashes(client: QdrantClient, name: str, ids: Sequence[int]) -> dict[int, str]:
    points = client.retrieve(name, ids=list(ids), with_payload=["doc_hash"], with_vectors=False)
    return {int(p.id): str((p.payload or {}).get("doc_hash", "")) for p in points}


def _chunks(queryset: QuerySet[Anime], ids: list[int]) -> Iterable[list[Anime]]:
    for start in range(0, len(ids), BATCH):
        yield list(queryset.filter(mal_id__in=ids[start : start + BATCH]).order_by("mal_id"))


def anime_index(
    mal_ids: Iterable[int] | None = None,
    *,
    rebuild: bool = False,
    progress: Callable[[int], None] | None = None,
    release: bool = False,
    use_cache: bool = True,
) -> IndexStats:
    """Index (or re-index) the given anime, or the whole catalogue when ``mal_ids`` is None.
    Ids no longer in the catalogue are removed from the index. ``use_cache=False`` embeds
    without the embedding cache (the speed benchmark's cold run)."""
    started = time.perf_counter()
    embedder = get_embedder()
    stats = IndexStats()
    queryset = Anime.objects.prefetch_related("genres")
    wanted = (
        sorted(set(mal_ids))
        if mal_ids is not None
        else list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))
    )
    with qdrant_session(release=release) as client:
        name = collection_ensure(client, embedder, recreate=rebuild)
        present: set[int] = set()
        for chunk in _chunks(queryset, wanted):
            present.update(a.mal_id for a in chunk)
            stored = {} if rebuild else _stored_hashes(client, name, [a.mal_id for a in chunk])
            todo: list[tuple[Anime, str, str, dict[str, object]]] = []
            for anime in chunk:
                dense_text = anime_document_text(anime)
                keyword_text = anime_keyword_text(anime)
                payload = anime_payload(anime)
                payload["doc_hash"] = _document_hash(dense_text, keyword_text, payload)
                if stored.get(anime.mal_id) == payload["doc_hash"]:
                    stats.unchanged += 1
                else:
                    todo.append((anime, dense_text, keyword_text, payload))
            if todo:
                embed_started = time.perf_counter()
                texts = [t[1] for t in todo]
                vectors = (
                    embed_documents_cached(texts, embedder=embedder) if use_cache else embedder.embed_documents(texts)
                )
                stats.embed_seconds += time.perf_counter() - embed_started
                points = []
                for (anime, _, keyword_text, payload), vector in zip(todo, vectors, strict=True):
                    indices, values = document_sparse(keyword_text)
                    points.append(
                        qm.PointStruct(
                            id=anime.mal_id,
                            vector={DENSE: vector.tolist(), SPARSE: qm.SparseVector(indices=indices, values=values)},
                            payload=payload,
                        )
                    )
                client.upsert(name, points=points, wait=True)
                stats.indexed += len(points)
            if progress:
                progress(len(chunk))
        gone = [i for i in wanted if i not in present]
        if mal_ids is None and not rebuild:
            # A full pass also drops points of anime deleted from the catalogue.
            gone += _orphans(client, name, set(wanted))
        if gone:
            client.delete(name, points_selector=qm.PointIdsList(points=gone), wait=True)
            stats.deleted = len(gone)
    stats.seconds = time.perf_counter() - started
    return stats


def _orphans(client: QdrantClient, name: str, keep: set[int]) -> list[int]:
    orphans: list[int] = []
    offset = None
    while True:
        points, offset = client.scroll(name, limit=1000, offset=offset, with_payload=False, with_vectors=False)
        orphans.extend(int(p.id) for p in points if int(p.id) not in keep)
        if offset is None:
            return orphans


def index_count() -> int:
    embedder = get_embedder()
    with qdrant_session() as client:
        name = collection_name(embedder)
        if not client.collection_exists(name):
            return 0
        return client.count(name, exact=True).count
