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
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from catalog.filters import AnimeCriteria
from catalog.models import Anime
from catalog.search.documents import synopsis_sentences
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
from catalog.search.index import DENSE, SPARSE, index_base
from catalog.search.keywords import fold, keyword_tokens, query_sparse, stem
from catalog.search.titles import TitleIndex, title_index

logger = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "sparse")
MAX_QUERY_LENGTH = 1000
MAX_LIMIT = 50
# Candidates each ranking contributes before fusion and folding.
CANDIDATES = 100
# Reciprocal-rank fusion (Cormack et al. 2009), computed by the engine (see engine.Fusion): with
# equal weights a point scores the sum of 1 / (k + rank) over the rankings. Qdrant counts ranks
# from 0, so k = 61 is the classic k = 60 with ranks counted from 1 (what the dev-set figures were
# measured with). Weights: (dense, sparse).
FUSION = Fusion(k=61, weights=(1.0, 1.0))


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
    # True when the index could not answer and the database's keyword search did.
    degraded: bool = False
    # Why, for the page and the API (the reduced-mode notice, or the first build's progress).
    notice: str = ""
    # The first build's progress in percent while there is no index yet, else None.
    index_building: int | None = None


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


def criteria_queryset(criteria: AnimeCriteria | None):  # -> AnimeQuerySet
    """The same filters on the database (for title matches, which do not come from Qdrant)."""
    qs = Anime.objects.all()
    return criteria.apply(qs) if criteria is not None else qs


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

_WORDS = re.compile(r"([A-Za-zÀ-ÿ0-9]+)")


def query_stems(query: str) -> set[str]:
    return set(keyword_tokens(query))


# Snippets look at the same synopses again and again (popular anime are hits of many queries), and
# splitting and stemming a synopsis costs ~1 ms: each text's analysis is kept, keyed by the text
# itself, so an edited synopsis is analysed afresh.
@lru_cache(maxsize=8192)
def _sentence_stems(sentence: str) -> frozenset[str]:
    return frozenset(keyword_tokens(sentence))


@lru_cache(maxsize=4096)
def _synopsis_sentences(synopsis: str) -> tuple[str, ...]:
    return tuple(synopsis_sentences(synopsis))


@lru_cache(maxsize=8192)
def _sentence_words(sentence: str) -> tuple[tuple[str, str], ...]:
    """The sentence cut into words and the text between them: (piece, its stem or "")."""
    return tuple(
        (piece, stem(fold(piece)) if _WORDS.fullmatch(piece) else "") for piece in _WORDS.split(sentence) if piece
    )


def best_sentence(synopsis: str, stems: set[str], index: TitleIndex) -> str:
    sentences = _synopsis_sentences(synopsis)
    if not sentences:
        return ""
    best, best_score = sentences[0], 0.0
    for sentence in sentences:
        score = sum(index.idf(t) for t in _sentence_stems(sentence) & stems)
        if score > best_score:
            best, best_score = sentence, score
    return best


def highlight(sentence: str, stems: set[str]) -> SafeString:
    """The sentence, HTML-escaped, with words matching the query wrapped in <mark>."""
    words = _sentence_words(sentence)
    return _highlight(sentence, frozenset(stem for _, stem in words if stem in stems))


@lru_cache(maxsize=8192)
def _highlight(sentence: str, marked: frozenset[str]) -> SafeString:
    parts = [
        f"<mark>{escape(piece)}</mark>" if word_stem in marked else escape(piece)
        for piece, word_stem in _sentence_words(sentence)
    ]
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
        candidates = vector_query(dense=dense, sparse=sparse, query_filter=criteria_filter(criteria))
    except EngineError as error:
        # Degrade, don't fail: the database's keyword search answers (catalog/search/fallback.py).
        from catalog.search.fallback import search_keyword_fallback

        logger.warning("search index unavailable, answering from the database: %s", error)
        return search_keyword_fallback(
            query, criteria=criteria, limit=limit, mode=mode, fold_franchises=fold_franchises, cause=error
        )
    timings["vector"] = time.perf_counter() - mark

    mark = time.perf_counter()
    franchise = {c.mal_id: c.franchise_key for c in candidates}
    members = {c.mal_id: c.members for c in candidates}
    fused = [(c.mal_id, c.score) for c in candidates]
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


RELATED_FIELDS = ("mal_id", "title", "title_english", "type", "year")


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
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=list(related)).prefetch_related("genres")}
    # Folded entries are listed by title, type and year only: no genres, no long text.
    others = {r for rel in related.values() for r in rel}
    if others:
        objects.update((a.mal_id, a) for a in Anime.objects.filter(mal_id__in=others).only(*RELATED_FIELDS))
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
    """The nearest anime by dense vector, outside ``anime``'s own franchise (a filter inside the
    engine), one per franchise. Raises ``IndexMissing`` / ``EngineUnavailable``."""
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
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[c[0] for c in chosen]).prefetch_related("genres")}
    return [SearchHit(anime=objects[m], score=s) for m, s in chosen if m in objects]
