"""A Qdrant server or cluster at ``QDRANT_URL``, through qdrant-client: for several machines (the
compose stack's web, worker and beat containers, more web servers, Qdrant Cloud).

Each generation is a collection ``<base>__g_<format>_<time>_<random>``; the alias ``<base>`` names
the live one. Publishing a build swaps the alias in one ``update_collection_aliases`` call, so a
search sees the old generation or the new one, never a half-built one. Writes to the live index go
through the alias; Qdrant applies each one to the generation the alias names at that moment.

Readers resolve the alias at most once a second (``ALIAS_TTL``) and retry once with a fresh
answer when the collection they had was removed in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ApiException, UnexpectedResponse

from catalog.search.engine.types import (
    Condition,
    EngineUnavailable,
    Filter,
    Fusion,
    Generation,
    HasId,
    Hit,
    IndexMissing,
    Match,
    MatchAny,
    Nearest,
    Point,
    Range,
    Record,
    Schema,
    Sparse,
    Vector,
    VectorQuery,
    best_first,
    filters_both,
    fused_limit,
    generation_name,
    generation_parts,
    generations_of,
    nearest_best_first,
)

logger = logging.getLogger(__name__)

ALIAS_TTL = 1.0  # seconds a reader trusts its answer to "which collection is live"
# An unpublished generation younger than this may be a build still running on another machine.
UNFINISHED_GRACE = timedelta(hours=6)

_PAYLOAD_KINDS = {
    "keyword": qm.PayloadSchemaType.KEYWORD,
    "integer": qm.PayloadSchemaType.INTEGER,
    "float": qm.PayloadSchemaType.FLOAT,
}
# What the client raises when the server is down, slow or refuses (the local stand-in of the
# tests raises ValueError for a missing collection).
CLIENT_ERRORS: tuple[type[BaseException], ...] = (ApiException, httpx.HTTPError, OSError, ValueError, RuntimeError)


def _call[T](action: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CLIENT_ERRORS as error:
        raise EngineUnavailable(f"Qdrant could not {action}: {error}") from error


def _vector(vector: Vector) -> Any:
    if isinstance(vector, Sparse):
        return qm.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return [float(v) for v in vector]


def _vector_back(value: Any) -> Vector:
    if isinstance(value, qm.SparseVector):
        return Sparse(indices=list(value.indices), values=list(value.values))
    return list(value)


def _condition(condition: Condition) -> Any:
    if isinstance(condition, Match):
        return qm.FieldCondition(key=condition.key, match=qm.MatchValue(value=condition.value))
    if isinstance(condition, MatchAny):
        return qm.FieldCondition(key=condition.key, match=qm.MatchAny(any=list(condition.values)))
    if isinstance(condition, Range):
        return qm.FieldCondition(key=condition.key, range=qm.Range(gte=condition.gte, lte=condition.lte))
    if isinstance(condition, HasId):
        return qm.HasIdCondition(has_id=sorted(condition.ids))
    raise TypeError(f"unknown condition {condition!r}")


def _filter(filter: Filter | None) -> qm.Filter | None:
    if not filter:
        return None
    return qm.Filter(
        must=[_condition(c) for c in filter.must] or None,
        must_not=[_condition(c) for c in filter.must_not] or None,
    )


def _ranking_filter(filter: Filter | None, query: VectorQuery) -> qm.Filter | None:
    """The engine filter of one ranking: the query's ``filter`` and the ranking's own ``within``."""
    return _filter(filters_both(filter, query.within))


def _with(selection: Sequence[str] | bool) -> Any:
    return list(selection) if not isinstance(selection, bool) else selection


class ServerCollection:
    def __init__(self, client: QdrantClient, name: str, generation: str) -> None:
        self.client = client
        self.name = name  # the alias (writes) or the collection itself (reads, builds)
        self.generation = generation

    def upsert(self, points: Sequence[Point]) -> None:
        if points:
            structs = [
                qm.PointStruct(id=p.id, vector={k: _vector(v) for k, v in p.vectors.items()}, payload=p.payload)
                for p in points
            ]
            _call("upsert points", lambda: self.client.upsert(self.name, points=structs, wait=True))

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            selector = qm.PointIdsList(points=list(ids))
            _call("delete points", lambda: self.client.delete(self.name, points_selector=selector, wait=True))

    def retrieve(
        self, ids: Sequence[int], *, payload: Sequence[str] | bool = False, vectors: Sequence[str] | bool = False
    ) -> list[Record]:
        if not ids:
            return []
        found = _call(
            "read points",
            lambda: self.client.retrieve(
                self.name, ids=list(ids), with_payload=_with(payload), with_vectors=_with(vectors)
            ),
        )
        return [
            Record(
                id=int(r.id),
                payload=dict(r.payload or {}),
                vectors={k: _vector_back(v) for k, v in (r.vector or {}).items()} if isinstance(r.vector, dict) else {},
            )
            for r in found
        ]

    def ids(self) -> set[int]:
        found: set[int] = set()
        offset = None
        while True:
            records, offset = _call(
                "list points",
                lambda start=offset: self.client.scroll(
                    self.name, limit=1000, offset=start, with_payload=False, with_vectors=False
                ),
            )
            found.update(int(r.id) for r in records)
            if offset is None:
                return found

    def count(self) -> int:
        return _call("count points", lambda: self.client.count(self.name, exact=True).count)

    def payload_indexes(self) -> dict[str, str]:
        info = _call("describe the collection", lambda: self.client.get_collection(self.name))
        kinds = {v: k for k, v in _PAYLOAD_KINDS.items()}
        return {
            name: kinds.get(schema.data_type, str(schema.data_type)) for name, schema in info.payload_schema.items()
        }

    def _nearest_points(
        self,
        query: VectorQuery,
        limit: int,
        filter: Filter | None,
        *,
        payload: Sequence[str] | bool,
        exact: bool = False,
    ) -> Any:
        """One vector's nearest points (``exact``: by a full scan)."""
        return _call(
            "run the query",
            lambda: self.client.query_points(
                self.name,
                query=_vector(query.vector),
                using=query.using,
                query_filter=_ranking_filter(filter, query),
                limit=limit,
                with_payload=_with(payload),
                search_params=qm.SearchParams(exact=True) if exact else None,
            ),
        )

    def query(
        self,
        queries: Sequence[VectorQuery],
        *,
        limit: int,
        filter: Filter | None = None,
        candidates: int | None = None,
        fusion: Fusion | None = None,
        payload: Sequence[str] | bool = False,
    ) -> list[Hit]:
        if not queries:
            return []
        if len(queries) == 1:
            response = self._nearest_points(queries[0], limit, filter, payload=payload)
        else:
            if fusion is None or len(fusion.weights) != len(queries):
                raise ValueError("several queries need a fusion with one weight per query")
            prefetch = [
                qm.Prefetch(
                    query=_vector(q.vector),
                    using=q.using,
                    filter=_ranking_filter(filter, q),
                    limit=candidates or limit,
                )
                for q in queries
            ]
            rrf = qm.RrfQuery(rrf=qm.Rrf(k=fusion.k, weights=list(fusion.weights)))
            response = _call(
                "run the query",
                lambda: self.client.query_points(
                    self.name,
                    prefetch=prefetch,
                    query=rrf,
                    limit=fused_limit(limit, candidates, len(queries)),
                    with_payload=_with(payload),
                ),
            )
        hits = [Hit(id=int(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in response.points]
        return best_first(hits, limit)

    def nearest(self, query: VectorQuery, *, limit: int, filter: Filter | None = None, exact: bool = False) -> Nearest:
        response = self._nearest_points(query, limit, filter, payload=False, exact=exact)
        return nearest_best_first([int(p.id) for p in response.points], [p.score for p in response.points], limit)


class ServerEngine:
    kind = "server"

    def __init__(self, client: QdrantClient) -> None:
        self.client = client
        self._aliases: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ aliases

    def _alias_target(self, base: str, *, fresh: bool = False) -> str | None:
        now = time.monotonic()
        cached = self._aliases.get(base)
        if cached is not None and not fresh and now - cached[0] < ALIAS_TTL:
            return cached[1]
        response = _call("list aliases", self.client.get_aliases)
        target = next((a.collection_name for a in response.aliases if a.alias_name == base), None)
        self._aliases[base] = (now, target)
        return target

    def live(self, base: str) -> Generation | None:
        target = self._alias_target(base, fresh=True)
        return Generation(target) if target else None

    # ------------------------------------------------------------------ reading and writing

    @contextmanager
    def reading(self, base: str) -> Iterator[ServerCollection]:
        target = self._alias_target(base)
        if target is None:
            raise IndexMissing(f"the search index {base} has not been built yet")
        yield _RetryingCollection(self, base, ServerCollection(self.client, target, target))

    @contextmanager
    def writing(self, base: str) -> Iterator[ServerCollection]:
        target = self._alias_target(base, fresh=True)
        if target is None:
            raise IndexMissing(f"the search index {base} has not been built yet")
        yield ServerCollection(self.client, base, target)

    @contextmanager
    def building(self, base: str, *, schema: Schema, format: str) -> Iterator[ServerCollection]:
        name = generation_name(base, format)
        _call(
            "create a collection",
            lambda: self.client.create_collection(
                name,
                vectors_config={
                    vector: qm.VectorParams(size=size, distance=qm.Distance.COSINE)
                    for vector, size in schema.dense.items()
                },
                sparse_vectors_config={
                    vector: qm.SparseVectorParams(modifier=qm.Modifier.IDF) for vector in schema.sparse
                },
            ),
        )
        try:
            for field_name, kind in schema.payload_indexes.items():
                _call(
                    "create a payload index",
                    lambda f=field_name, k=kind: self.client.create_payload_index(
                        name, field_name=f, field_schema=_PAYLOAD_KINDS[k], wait=True
                    ),
                )
            yield ServerCollection(self.client, name, name)
        except BaseException:
            try:
                self.client.delete_collection(name)
            except CLIENT_ERRORS:
                logger.warning("could not remove the unfinished generation %s", name, exc_info=True)
            raise
        self._publish(base, name)
        self._prune(base)

    def _publish(self, base: str, name: str) -> None:
        current = self._alias_target(base, fresh=True)
        operations: list[Any] = []
        if current is not None:
            operations.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=base)))
        elif _call("check for an old collection", lambda: base in self._collections()):
            # An index from before generations existed holds the alias's name: it goes first.
            _call("remove the old collection", lambda: self.client.delete_collection(base))
        operations.append(qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=name, alias_name=base)))
        _call("switch the alias", lambda: self.client.update_collection_aliases(change_aliases_operations=operations))
        self._aliases[base] = (time.monotonic(), name)

    def _collections(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def generations(self, base: str) -> list[str]:
        return generations_of(_call("list collections", self._collections), base)

    def _prune(self, base: str) -> None:
        """Keep the live generation and the one before it; drop older ones, and unfinished ones
        old enough that no build can still be filling them."""
        names = self.generations(base)
        live = self._alias_target(base, fresh=True)
        if live not in names:
            return
        position = names.index(live)
        keep = {live, *names[max(0, position - 1) : position]}
        now = datetime.now(UTC)
        for name in names:
            if name in keep:
                continue
            newer = names.index(name) > position
            if newer and now - _stamp_time(name) < UNFINISHED_GRACE:
                continue
            try:
                self.client.delete_collection(name)
            except CLIENT_ERRORS:
                logger.warning("could not remove the old generation %s", name, exc_info=True)

    def close(self) -> None:
        self.client.close()


def _stamp_time(name: str) -> datetime:
    stamp = generation_parts(name)[2].partition("_")[0]
    try:
        return datetime.strptime(stamp, "%Y%m%dt%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


class _RetryingCollection(ServerCollection):
    """A reader's collection: if the generation it resolved was removed meanwhile (a 404), the
    alias is read again and the call repeated once."""

    def __init__(self, engine: ServerEngine, base: str, inner: ServerCollection) -> None:
        super().__init__(inner.client, inner.name, inner.generation)
        self.engine = engine
        self.base = base

    def _retrying(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except EngineUnavailable as error:
            cause = error.__cause__
            if not (isinstance(cause, UnexpectedResponse) and cause.status_code == 404):
                raise
            target = self.engine._alias_target(self.base, fresh=True)
            if target is None:
                raise IndexMissing(f"the search index {self.base} has not been built yet") from error
            self.name = self.generation = target
            return call()

    def query(self, queries: Sequence[VectorQuery], **options: Any) -> list[Hit]:
        return self._retrying(lambda: super(_RetryingCollection, self).query(queries, **options))

    def nearest(self, query: VectorQuery, **options: Any) -> Nearest:
        return self._retrying(lambda: super(_RetryingCollection, self).nearest(query, **options))
