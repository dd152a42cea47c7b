"""The search service used by the page, the API and the commands.

``search_anime``: the query is embedded once; the engine answers one hybrid query: a dense and a
sparse (BM25) ranking, both with the filters inside so the top k stays full, fused by the engine's
weighted reciprocal-rank fusion (``FUSION``); anime whose title the query names go first; hits of
one franchise fold into one card; each hit gets the synopsis sentence that shares the most
(IDF-weighted) words with the query as its snippet. No model work happens after the query
embedding. When the index is missing or the engine cannot answer, the database's keyword search
answers instead (``fallback.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from catalog.filters import AnimeCriteria
from catalog.models import Anime
from catalog.search.embeddings import get_embedder
from catalog.search.engine import (
    Condition,
    EngineError,
    Filter,
    Fusion,
    HasId,
    Match,
    MatchAny,
    Range,
    Sparse,
    VectorQuery,
    engine,
)
from catalog.search.fallback import search_keyword_fallback, similar_fallback
from catalog.search.index import DENSE, SPARSE, index_base
from catalog.search.keywords import query_sparse
from catalog.search.results import Candidate, SearchHit, SearchResults, SimilarResults, results_assemble

logger = logging.getLogger(__name__)

# Candidates each ranking contributes before fusion and folding.
CANDIDATES = 100
# Reciprocal-rank fusion (Cormack et al. 2009), computed by the engine (see engine.Fusion): with
# equal weights a point scores the sum of 1 / (k + rank) over the rankings. Qdrant counts ranks
# from 0, so k = 61 is the classic k = 60 with ranks counted from 1 (what the dev-set figures were
# measured with). Weights: (dense, sparse).
FUSION = Fusion(k=61, weights=(1.0, 1.0))


def criteria_filter(criteria: AnimeCriteria | None, *, exclude_franchise: str = "") -> Filter | None:
    """The browse page's filters as an engine filter (same meaning as ``AnimeFilter``)."""
    must: list[Condition] = []
    must_not: list[Condition] = []
    if criteria is not None:
        must.extend(Match("genres", genre) for genre in criteria.genres)
        if criteria.exclude_genres:
            must_not.append(MatchAny("genres", tuple(criteria.exclude_genres)))
        if criteria.type:
            must.append(Match("type", criteria.type))
        if criteria.tier:
            must.append(Match("tier", criteria.tier))
        if criteria.year_min is not None or criteria.year_max is not None:
            must.append(Range("year", gte=criteria.year_min, lte=criteria.year_max))
        if criteria.score_min is not None or criteria.score_max is not None:
            must.append(Range("score", gte=criteria.score_min, lte=criteria.score_max))
    if exclude_franchise:
        must_not.append(Match("franchise_key", exclude_franchise))
    if not must and not must_not:
        return None
    return Filter(must=tuple(must), must_not=tuple(must_not))


CANDIDATE_PAYLOAD = ["franchise_key", "members"]


def vector_query(
    *,
    dense: np.ndarray | None,
    sparse: tuple[list[int], list[float]] | None,
    query_filter: Filter | None,
    limit: int = CANDIDATES,
) -> list[Candidate]:
    """One engine query: the dense and/or the sparse ranking (fused when both) -> candidates.
    Raises ``IndexMissing`` / ``EngineUnavailable``."""
    queries: list[VectorQuery] = []
    weights: list[float] = []
    if dense is not None:
        queries.append(VectorQuery(DENSE, dense.tolist()))
        weights.append(FUSION.weights[0])
    if sparse is not None and sparse[0]:
        queries.append(VectorQuery(SPARSE, Sparse(indices=sparse[0], values=sparse[1])))
        weights.append(FUSION.weights[1])
    if not queries:
        return []
    with engine().reading(index_base()) as collection:
        hits = collection.query(
            queries,
            limit=limit,
            candidates=CANDIDATES,
            filter=query_filter,
            fusion=Fusion(FUSION.k, tuple(weights)),
            payload=CANDIDATE_PAYLOAD,
        )
    return [
        Candidate(hit.id, hit.score, str(hit.payload.get("franchise_key", "")), int(hit.payload.get("members") or 0))
        for hit in hits
    ]


# ---------------------------------------------------------------------------- snippets

# ---------------------------------------------------------------------------- search


def search_anime(
    query: str,
    *,
    criteria: AnimeCriteria | None = None,
    limit: int = 10,
    mode: str = "hybrid",
    fold_franchises: bool = True,
) -> SearchResults:
    """Search by title or plot (the query as validated by ``catalog.search.forms.SearchForm``).
    When the index cannot answer, the database's keyword search does (``degraded``)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    dense = get_embedder().embed_query(query) if mode in ("hybrid", "dense") else None
    timings["embed"] = time.perf_counter() - started
    mark = time.perf_counter()
    sparse = query_sparse(query) if mode in ("hybrid", "sparse") else None
    try:
        ranked = vector_query(dense=dense, sparse=sparse, query_filter=criteria_filter(criteria))
    except EngineError as error:
        return _fallback(
            "search",
            error,
            lambda cause: search_keyword_fallback(
                query, criteria=criteria, limit=limit, mode=mode, fold_franchises=fold_franchises, cause=cause
            ),
        )
    timings["vector"] = time.perf_counter() - mark
    results = results_assemble(
        ranked,
        query=query,
        criteria=criteria,
        mode=mode,
        limit=limit,
        fold_franchises=fold_franchises,
        timings=timings,
    )
    timings["total"] = time.perf_counter() - started
    return results


def _fallback[T](what: str, error: EngineError, answer: Callable[[EngineError], T]) -> T:
    """The one place where search and "more like this" decide to answer without the index."""
    logger.warning("%s: the search index cannot answer (%s); answering from the database", what, error)
    return answer(error)


def similar_anime(anime: Anime, *, limit: int = 6) -> SimilarResults:
    """The nearest anime by dense vector, outside ``anime``'s own franchise (a filter inside the
    engine), one per franchise; popular anime sharing its genres when the index cannot answer."""
    try:
        chosen = _similar_ranked(anime, limit=limit)
    except EngineError as error:
        return _fallback("more like this", error, lambda _: SimilarResults(similar_fallback(anime, limit=limit), True))
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[c[0] for c in chosen]).prefetch_related("genres")}
    return SimilarResults([SearchHit(anime=objects[m], score=s) for m, s in chosen if m in objects])


def _similar_ranked(anime: Anime, *, limit: int) -> list[tuple[int, float]]:
    with engine().reading(index_base()) as collection:
        records = collection.retrieve([anime.mal_id], vectors=[DENSE])
        if not records or DENSE not in records[0].vectors:
            return []
        own = anime.franchise_key
        query_filter = Filter(must_not=(Match("franchise_key", own),) if own else (HasId(frozenset({anime.mal_id})),))
        hits = collection.query(
            [VectorQuery(DENSE, records[0].vectors[DENSE])],
            limit=limit * 4,
            filter=query_filter,
            payload=["franchise_key"],
        )
    chosen: list[tuple[int, float]] = []
    seen: set[str] = set()
    for hit in hits:
        key = str(hit.payload.get("franchise_key", ""))
        if key and key in seen:
            continue
        if key:
            seen.add(key)
        chosen.append((hit.id, hit.score))
        if len(chosen) >= limit:
            break
    return chosen
