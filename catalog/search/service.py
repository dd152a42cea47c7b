"""The search service used by the page, the API and the commands.

``search_anime``: the query is embedded once; Qdrant answers a dense and a sparse (BM25) query
in one batch, both with the filters inside Qdrant so the top k stays full; the two rankings are
fused with weighted reciprocal-rank fusion; anime whose title the query names go first; hits of
one franchise fold into one card; each hit gets the synopsis sentence that shares the most
(IDF-weighted) words with the query as its snippet. No model work happens after the query
embedding.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from qdrant_client import models as qm

from catalog.filters import AnimeCriteria
from catalog.models import Anime
from catalog.search.documents import synopsis_sentences
from catalog.search.embeddings import get_embedder
from catalog.search.index import DENSE, SPARSE, collection_name
from catalog.search.keywords import fold, keyword_tokens, query_sparse, stem
from catalog.search.qdrant import qdrant_client
from catalog.search.titles import TitleIndex, title_index

logger = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "sparse")
MAX_QUERY_LENGTH = 1000
MAX_LIMIT = 50
# Candidates each ranking contributes before fusion and folding.
CANDIDATES = 100
# Reciprocal-rank fusion (Cormack et al. 2009): score = sum of weight / (RRF_K + rank).
RRF_K = 60
RRF_WEIGHTS = {"dense": 1.0, "sparse": 1.0}


class SearchUnavailable(Exception):
    """The index is missing or Qdrant cannot be reached."""


@dataclass
class SearchHit:
    anime: Anime
    score: float
    snippet: str = ""
    snippet_html: SafeString = field(default_factory=lambda: mark_safe(""))
    title_match: bool = False
    related: list[Anime] = field(default_factory=list)

    @property
    def related_count(self) -> int:
        return len(self.related)


@dataclass
class SearchResults:
    query: str
    mode: str
    hits: list[SearchHit]
    fold: bool
    timings: dict[str, float] = field(default_factory=dict)
    # True when Qdrant could not be reached and the database's keyword search answered.
    degraded: bool = False


def criteria_filter(criteria: AnimeCriteria | None, *, exclude_franchise: str = "") -> qm.Filter | None:
    """The browse page's filters as a Qdrant filter (same meaning as ``AnimeFilter``)."""
    must: list[qm.Condition] = []
    must_not: list[qm.Condition] = []
    if criteria is not None:
        for genre in criteria.genres:
            must.append(qm.FieldCondition(key="genres", match=qm.MatchValue(value=genre)))
        if criteria.exclude_genres:
            must_not.append(qm.FieldCondition(key="genres", match=qm.MatchAny(any=list(criteria.exclude_genres))))
        if criteria.type:
            must.append(qm.FieldCondition(key="type", match=qm.MatchValue(value=criteria.type)))
        if criteria.tier:
            must.append(qm.FieldCondition(key="tier", match=qm.MatchValue(value=criteria.tier)))
        if criteria.year_min is not None or criteria.year_max is not None:
            must.append(qm.FieldCondition(key="year", range=qm.Range(gte=criteria.year_min, lte=criteria.year_max)))
        if criteria.score_min is not None or criteria.score_max is not None:
            must.append(qm.FieldCondition(key="score", range=qm.Range(gte=criteria.score_min, lte=criteria.score_max)))
    if exclude_franchise:
        must_not.append(qm.FieldCondition(key="franchise_key", match=qm.MatchValue(value=exclude_franchise)))
    if not must and not must_not:
        return None
    return qm.Filter(must=must or None, must_not=must_not or None)


def criteria_queryset(criteria: AnimeCriteria | None):  # -> AnimeQuerySet
    """The same filters on the database (for title matches, which do not come from Qdrant)."""
    qs = Anime.objects.all()
    return criteria.apply(qs) if criteria is not None else qs


def rrf_fuse(
    rankings: dict[str, Sequence[int]], *, weights: dict[str, float] | None = None, k: int = RRF_K
) -> list[tuple[int, float]]:
    weights = weights or RRF_WEIGHTS
    scores: dict[int, float] = {}
    for name, ids in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, mal_id in enumerate(ids, 1):
            scores[mal_id] = scores.get(mal_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class Candidate(NamedTuple):
    mal_id: int
    score: float
    franchise_key: str
    members: int


CANDIDATE_PAYLOAD = ["franchise_key", "members"]


def vector_query(
    *,
    dense: np.ndarray | None,
    sparse: tuple[list[int], list[float]] | None,
    query_filter: qm.Filter | None,
    limit: int = CANDIDATES,
) -> dict[str, list[Candidate]]:
    """One round trip to Qdrant: the dense and/or sparse ranking -> [Candidate]."""
    requests: list[tuple[str, qm.QueryRequest]] = []
    if dense is not None:
        requests.append(
            (
                "dense",
                qm.QueryRequest(
                    query=dense.tolist(), using=DENSE, filter=query_filter, limit=limit, with_payload=CANDIDATE_PAYLOAD
                ),
            )
        )
    if sparse is not None and sparse[0]:
        vector = qm.SparseVector(indices=sparse[0], values=sparse[1])
        requests.append(
            (
                "sparse",
                qm.QueryRequest(
                    query=vector, using=SPARSE, filter=query_filter, limit=limit, with_payload=CANDIDATE_PAYLOAD
                ),
            )
        )
    if not requests:
        return {}
    name = collection_name()
    try:
        responses = qdrant_client().query_batch_points(name, requests=[r for _, r in requests])
    except ValueError as exc:  # local mode: "Collection ... not found"
        raise SearchUnavailable(str(exc)) from exc
    except Exception as exc:
        if "not found" in str(exc).lower():
            raise SearchUnavailable(f"the search index {name} does not exist: run manage.py build_index") from exc
        raise SearchUnavailable(str(exc)) from exc
    return {
        label: [
            Candidate(
                int(p.id),
                float(p.score),
                str((p.payload or {}).get("franchise_key", "")),
                int((p.payload or {}).get("members") or 0),
            )
            for p in response.points
        ]
        for (label, _), response in zip(requests, responses, strict=True)
    }


# ---------------------------------------------------------------------------- snippets

_WORDS = re.compile(r"([A-Za-zÀ-ÿ0-9]+)")


def query_stems(query: str) -> set[str]:
    return set(keyword_tokens(query))


def best_sentence(synopsis: str, stems: set[str], index: TitleIndex) -> str:
    sentences = synopsis_sentences(synopsis)
    if not sentences:
        return ""
    best, best_score = sentences[0], 0.0
    for sentence in sentences:
        tokens = set(keyword_tokens(sentence))
        score = sum(index.idf(t) for t in tokens & stems)
        if score > best_score:
            best, best_score = sentence, score
    return best


def highlight(sentence: str, stems: set[str]) -> SafeString:
    """The sentence, HTML-escaped, with words matching the query wrapped in <mark>."""
    parts: list[str] = []
    for piece in _WORDS.split(sentence):
        if piece and _WORDS.fullmatch(piece) and stem(fold(piece)) in stems:
            parts.append(f"<mark>{escape(piece)}</mark>")
        else:
            parts.append(escape(piece))
    return mark_safe("".join(parts))


# ---------------------------------------------------------------------------- search


def fold_franchise_hits(
    order: list[int],
    *,
    franchise: dict[int, str],
    members: dict[int, int],
    preferred: set[int],
    limit: int,
    fold: bool = True,
) -> list[tuple[int, list[int]]]:
    """One card per franchise, ranked where the franchise's best hit ranks. The card shows the
    entry the query named by title, else the franchise's best-known matching entry (most
    members): a search for "a notebook that kills" shows Death Note, not its recap special,
    with the other matching entries as "+N related"."""
    if not fold:
        return [(mal_id, []) for mal_id in order[:limit]]
    groups: dict[str, list[int]] = {}
    for mal_id in order:
        groups.setdefault(franchise.get(mal_id) or f"#{mal_id}", []).append(mal_id)
    cards: list[tuple[int, list[int]]] = []
    for entries in list(groups.values())[:limit]:
        named = [m for m in entries if m in preferred]
        head = named[0] if named else max(entries, key=lambda m: (members.get(m, 0), -entries.index(m)))
        cards.append((head, [m for m in entries if m != head]))
    return cards


def search_anime(
    query: str,
    *,
    criteria: AnimeCriteria | None = None,
    limit: int = 10,
    mode: str = "hybrid",
    fold_franchises: bool = True,
) -> SearchResults:
    query = query.strip()
    if not query:
        raise ValueError("q must not be empty")
    if len(query) > MAX_QUERY_LENGTH:
        raise ValueError(f"q must be at most {MAX_QUERY_LENGTH} characters")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid values: {', '.join(MODES)}")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    dense = get_embedder().embed_query(query) if mode in ("hybrid", "dense") else None
    timings["embed"] = time.perf_counter() - started

    mark = time.perf_counter()
    sparse = query_sparse(query) if mode in ("hybrid", "sparse") else None
    try:
        rankings = vector_query(dense=dense, sparse=sparse, query_filter=criteria_filter(criteria))
    except SearchUnavailable as exc:
        # Degrade, don't fail: the database's keyword search answers (catalog/search/fallback.py).
        from catalog.search.fallback import search_keyword_fallback

        logger.warning("search index unavailable, answering from the database: %s", exc)
        return search_keyword_fallback(
            query, criteria=criteria, limit=limit, mode=mode, fold_franchises=fold_franchises
        )
    timings["vector"] = time.perf_counter() - mark

    mark = time.perf_counter()
    franchise: dict[int, str] = {}
    members: dict[int, int] = {}
    for ranked in rankings.values():
        for candidate in ranked:
            franchise[candidate.mal_id] = candidate.franchise_key
            members[candidate.mal_id] = candidate.members
    fused = rrf_fuse({label: [c.mal_id for c in ranked] for label, ranked in rankings.items()})
    titles = title_index()
    matches = titles.match(query)
    if matches:
        allowed = set(
            criteria_queryset(criteria).filter(mal_id__in=[m.mal_id for m in matches]).values_list("mal_id", flat=True)
        )
        matches = [m for m in matches if m.mal_id in allowed]
    title_ids = [m.mal_id for m in matches]
    if title_ids:
        rows = Anime.objects.filter(mal_id__in=title_ids).values_list("mal_id", "franchise_key", "members")
        for mal_id, key, count in rows:
            franchise[mal_id] = key
            members[mal_id] = count or 0
    title_set = set(title_ids)
    order = title_ids + [mal_id for mal_id, _ in fused if mal_id not in title_set]
    score_of = dict(fused)
    groups = fold_franchise_hits(
        order, franchise=franchise, members=members, preferred=title_set, limit=limit, fold=fold_franchises
    )
    timings["fuse"] = time.perf_counter() - mark

    mark = time.perf_counter()
    hits = hits_hydrate(groups, query=query, titles=titles, score_of=score_of, title_set=title_set)
    timings["hydrate"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return SearchResults(query=query, mode=mode, hits=hits, fold=fold_franchises, timings=timings)


def hits_hydrate(
    groups: Sequence[tuple[int, list[int]]],
    *,
    query: str,
    titles: TitleIndex,
    score_of: dict[int, float],
    title_set: set[int],
) -> list[SearchHit]:
    """Cards for folded hits (head id, related ids): the anime rows, a card's best score, and
    the synopsis sentence closest to the query as its snippet. Shared by the Qdrant path and
    the database fallback."""
    related = dict(groups)
    wanted = set(related) | {r for rel in related.values() for r in rel}
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=wanted).prefetch_related("genres")}
    stems = query_stems(query)
    hits: list[SearchHit] = []
    for head, _ in groups:
        anime = objects.get(head)
        if anime is None:  # deleted since it was indexed
            continue
        sentence = best_sentence(anime.synopsis, stems, titles)
        hits.append(
            SearchHit(
                anime=anime,
                score=max(score_of.get(m, 0.0) for m in [head, *related[head]]),
                snippet=sentence,
                snippet_html=highlight(sentence, stems),
                title_match=head in title_set,
                related=[objects[r] for r in related[head] if r in objects],
            )
        )
    return hits


def similar_anime(anime: Anime, *, limit: int = 6) -> list[SearchHit]:
    """The nearest anime by dense vector, outside ``anime``'s own franchise, one per franchise.

    The own franchise is dropped in Python from an unfiltered query with spare candidates:
    local mode evaluates a payload filter point by point (~45 ms), the plain query takes ~5.
    Only when the spare candidates run out does it ask again with the filter."""
    name = collection_name()
    try:
        points = qdrant_client().retrieve(name, ids=[anime.mal_id], with_vectors=[DENSE])
    except Exception as exc:
        raise SearchUnavailable(str(exc)) from exc
    if not points:
        return []
    vector = points[0].vector
    dense = np.array(vector[DENSE] if isinstance(vector, dict) else vector, dtype=np.float32)
    own = anime.franchise_key

    def pick(ranked: list[Candidate]) -> list[tuple[int, float]]:
        chosen: list[tuple[int, float]] = []
        seen: set[str] = {own} if own else set()
        for mal_id, score, key, _ in ranked:
            if mal_id == anime.mal_id or (key and key in seen):
                continue
            if key:
                seen.add(key)
            chosen.append((mal_id, score))
            if len(chosen) >= limit:
                break
        return chosen

    chosen = pick(vector_query(dense=dense, sparse=None, query_filter=None, limit=limit * 4 + 20).get("dense", []))
    if len(chosen) < limit:
        query_filter = criteria_filter(None, exclude_franchise=own)
        chosen = pick(
            vector_query(dense=dense, sparse=None, query_filter=query_filter, limit=limit * 4).get("dense", [])
        )
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[c[0] for c in chosen]).prefetch_related("genres")}
    return [SearchHit(anime=objects[m], score=s) for m, s in chosen if m in objects]
