"""The search service used by the page, the API and the commands.

``search_anime``: the query is read first (``understanding.understand``: plot words, clues of a
long description, soft cues, explicit filters, exclusions; with a Gemini key, ``assist`` may write
the clues and name titles); the plot words and clues are embedded in one run; the engine answers
one query: a dense and a sparse (BM25) ranking of the whole and of each clue, with the filters
inside so the top k stays full, fused by weighted reciprocal-rank fusion (``FUSION``); the
candidates are reranked with the cues and a small popularity prior (``rerank``), and with a key by
Gemini (top ``RERANK_TOP``); anime whose title the query names go first; hits of one franchise fold
into one card; each card gets its snippet and says why it is there. When the index is missing or
the engine cannot answer, the database's keyword search answers instead (``fallback.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace as dataclass_replace

import numpy as np

from catalog.filters import AnimeCriteria
from catalog.franchise import first_per_franchise
from catalog.models import Anime
from catalog.search.assist import RERANK_TOP, assist_enabled, gemini_order, gemini_reading
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
from catalog.search.forms import SearchRequest
from catalog.search.index import DENSE, SPARSE, index_base
from catalog.search.keywords import query_sparse
from catalog.search.rerank import cue_subset, rerank
from catalog.search.results import (
    Candidate,
    Reason,
    SearchHit,
    SearchResults,
    SimilarResults,
    criteria_queryset,
    results_assemble,
)
from catalog.search.titles import TitleIndex, title_index
from catalog.search.understanding import FILTER_KEYS, QueryPlan, understand

logger = logging.getLogger(__name__)

# Candidates each ranking contributes before fusion and folding.
CANDIDATES = 100
# Reciprocal-rank fusion (Cormack et al. 2009), computed by the engine (see engine.Fusion): a point
# scores the sum of weight / (k + rank) over the rankings (ranks from 0). Chosen on the dev set
# (308 queries, hybrid MRR@10, README "Search quality"): k = 10 beat the classic 60 (0.769 vs
# 0.750, the rerank's boosts scaled to each) by trusting the top of each ranking more; weights by the query's shape (sparse up for
# title-like queries of <= 4 words, dense up for descriptions of >= 20) measured no better than
# equal weights (0.763-0.769 vs 0.770), so they stay equal. Weights: (dense, sparse).
FUSION = Fusion(k=10, weights=(1.0, 1.0))
# A clue of a long description ranks on its own; its rankings count this much beside the whole's.
CLUE_WEIGHT = 0.5
# The weight of the rankings inside the subset the query's cues describe (``rerank.cue_subset``):
# with k = 10, the subset's first place counts like a 5th place among all anime. Hit@10 of the 308
# / the 224 (MRR of the 224), and the rank of the answer in 7 probes whose studio or medium is
# wrong (no subset: 1, 1, 4, 1, 1, -, 7): weight 0.5 0.838 / 0.768 (0.622), probes 6, 1, 13, 2, 1,
# -, -; 0.3 0.841 / 0.768 (0.623); 0.2 0.844 / 0.768 (0.627), probes 4, 1, 10, 1, 1, -, 15; 0.1
# 0.844 / 0.763 (0.619), probes 2, 1, 7, 1, 1, -, 10 (README, "Search quality").
SUBSET_WEIGHT = 0.2
# From this cosine on a card's synopsis reads as close to the description in meaning ("similar
# story"). Measured with MiniLM on the dev set's descriptions: the right anime reaches a median of
# 0.37 (quartiles 0.28-0.47); anime drawn at random stay under 0.35 in 98 cases of 100.
MEANING_MIN = 0.35


def criteria_filter(
    criteria: AnimeCriteria | None, *, exclude_franchise: str = "", exclude_ids: Iterable[int] = ()
) -> Filter | None:
    """The browse page's filters as an engine filter (same meaning as ``AnimeFilter``)."""
    # Adult titles only for a visitor who asked (the filter's ``adult``); never by default.
    must: list[Condition] = [] if criteria is not None and criteria.adult else [Match("adult", 0)]
    must_not: list[Condition] = []
    if criteria is not None:
        must.extend(Match("genres", genre) for genre in criteria.genres)
        must.extend(Match("tags", tag) for tag in criteria.tags)
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
        if criteria.exclude_ids:
            must_not.append(HasId(criteria.exclude_ids))
        if criteria.only_ids is not None:
            must.append(HasId(criteria.only_ids))
    if exclude_franchise:
        must_not.append(Match("franchise_key", exclude_franchise))
    if exclude_ids:
        must_not.append(HasId(frozenset(exclude_ids)))
    if not must and not must_not:
        return None
    return Filter(must=tuple(must), must_not=tuple(must_not))


def entries_chosen(
    ranked: list[Candidate], matched: dict[int, list[str]], plan: QueryPlan
) -> tuple[list[Candidate], dict[int, list[str]]]:
    """The entry-level cues of a franchise: "not the 2019 one" drops the anime of that year (the
    rest of its franchise stays); "the original" / "not the remake" marks each franchise's
    earliest entry (of its best-ranked entry's medium) among the candidates as matching a cue,
    so its card shows that entry."""
    if plan.excluded_years:
        ranked = [c for c in ranked if (c.fields or {}).get("year") not in plan.excluded_years]
    if plan.original:
        # The earliest entry of the medium the franchise's best-ranked entry has (the 1999 TV
        # series, not a 1998 pilot film, for a TV remake).
        medium: dict[str, object] = {}
        first: dict[str, Candidate] = {}
        for candidate in ranked:
            fields = candidate.fields or {}
            year = fields.get("year")
            kind = medium.setdefault(candidate.franchise_key, fields.get("type"))
            if not candidate.franchise_key or not isinstance(year, int) or fields.get("type") != kind:
                continue
            best = first.get(candidate.franchise_key)
            if best is None or year < (best.fields or {}).get("year", 9999):  # type: ignore[operator]
                first[candidate.franchise_key] = candidate
        matched = dict(matched)
        for candidate in first.values():
            matched[candidate.mal_id] = [*matched.get(candidate.mal_id, []), ORIGINAL_LABEL]
    return ranked, matched


ORIGINAL_LABEL = "the original"
CANDIDATE_PAYLOAD = ["franchise_key", "members", "popularity", "type", "year", "studios", "episodes", "country"]


def vector_query(
    *,
    dense: np.ndarray | None,
    sparse: tuple[list[int], list[float]] | None,
    query_filter: Filter | None,
    limit: int = CANDIDATES,
    clues_dense: Sequence[np.ndarray] = (),
    clues_sparse: Sequence[tuple[list[int], list[float]]] = (),
    subset: Filter | None = None,
) -> list[Candidate]:
    """One engine query: the dense and/or the sparse ranking of the query, of each clue of a
    long description (weighted ``CLUE_WEIGHT``) and of the query inside ``subset`` (the anime its
    cues describe, weighted ``SUBSET_WEIGHT``), fused by the engine when there are several.
    Raises ``IndexMissing`` / ``EngineUnavailable``."""
    queries: list[VectorQuery] = []
    weights: list[float] = []

    def add(
        vector: np.ndarray | None,
        keywords: tuple[list[int], list[float]] | None,
        weight: float,
        within: Filter | None = None,
    ) -> None:
        if vector is not None:
            queries.append(VectorQuery(DENSE, vector.tolist(), within))
            weights.append(FUSION.weights[0] * weight)
        if keywords is not None and keywords[0]:
            queries.append(VectorQuery(SPARSE, Sparse(indices=keywords[0], values=keywords[1]), within))
            weights.append(FUSION.weights[1] * weight)

    add(dense, sparse, 1.0)
    if subset:
        add(dense, sparse, SUBSET_WEIGHT, subset)
    for index in range(max(len(clues_dense), len(clues_sparse))):
        add(
            clues_dense[index] if index < len(clues_dense) else None,
            clues_sparse[index] if index < len(clues_sparse) else None,
            CLUE_WEIGHT,
        )
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
        Candidate(
            hit.id,
            hit.score,
            str(hit.payload.get("franchise_key", "")),
            int(hit.payload.get("members") or 0),
            hit.payload,
        )
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
    understand_query: bool = True,
    ignore: frozenset[str] = frozenset(),
) -> SearchResults:
    """Search by title or plot (the query as validated by ``catalog.search.forms.SearchForm``).

    The query is read first (``understanding.understand``: plot words, clues, cues, explicit
    filters, exclusions; off with ``understand_query=False``); its plot words (and clues) are
    embedded in one run and ranked, the candidates reranked with the cues. When the index cannot
    answer, the database's keyword search does (``degraded``)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    titles = title_index()
    plan = understand(query, titles=titles, ignore=ignore) if understand_query else QueryPlan(query, query)
    criteria = criteria_with(criteria, plan.filters)
    assisted = mode == "hybrid" and understand_query and assist_enabled(plan)
    guesses: list[int] = []
    if assisted:
        reading = gemini_reading(plan.text)
        if reading.clues:
            plan.clues = reading.clues
            plan.assisted.append("clues")
        guesses = _guessed_ids(reading.titles, titles, plan.excluded_ids, criteria)
        timings["assist"] = time.perf_counter() - started
    texts = [plan.text, *plan.clues]
    vectors = get_embedder().embed_queries(texts) if mode in ("hybrid", "dense") else None
    timings["embed"] = time.perf_counter() - started
    mark = time.perf_counter()
    keywords = [query_sparse(text) for text in texts] if mode in ("hybrid", "sparse") else None
    query_filter = criteria_filter(criteria, exclude_ids=plan.excluded_ids)
    try:
        ranked = vector_query(
            dense=vectors[0] if vectors is not None else None,
            sparse=keywords[0] if keywords is not None else None,
            query_filter=query_filter,
            clues_dense=list(vectors[1:]) if vectors is not None else [],
            clues_sparse=keywords[1:] if keywords is not None else [],
            subset=cue_subset(plan.preferences),
        )
    except EngineError as error:
        return _fallback(
            "search",
            error,
            lambda cause: search_keyword_fallback(
                plan.text,
                criteria=criteria,
                limit=limit,
                mode=mode,
                fold_franchises=fold_franchises,
                cause=cause,
                plan=plan,
            ),
        )
    timings["vector"] = time.perf_counter() - mark
    ranked, matched_cues = rerank(ranked, plan.preferences)
    ranked, matched_cues = entries_chosen(ranked, matched_cues, plan)
    reasons = {mal_id: [Reason("cue", label) for label in labels] for mal_id, labels in matched_cues.items()}
    if assisted:
        ranked = _assisted_order(plan, _with_guesses(ranked, guesses, titles), timings)
        for mal_id in guesses:
            reasons.setdefault(mal_id, []).insert(0, Reason("assist", GUESS_LABEL))
    results = results_assemble(
        ranked,
        query=plan.text,
        criteria=criteria,
        mode=mode,
        limit=limit,
        fold_franchises=fold_franchises,
        timings=timings,
        reasons=reasons,
        titles=titles,
        typed=query,
        excluded=plan.excluded_ids,
    )
    results.query = query
    results.plan = plan
    if vectors is not None:
        _meaning_reasons(results.hits, vectors[0])
    timings["total"] = time.perf_counter() - started
    return results


def search_requested(request: SearchRequest) -> SearchResults:
    """``search_anime`` for a request read by ``forms.search_request_parse`` (page, API, command)."""
    return search_anime(
        request.q,
        criteria=request.criteria,
        limit=request.limit,
        mode=request.mode,
        fold_franchises=request.fold,
        understand_query=not request.literal,
        ignore=request.ignore,
    )


GUESS_LABEL = "named by Gemini"
GUESS_MIN_QUALITY = 0.8  # a guessed title must name a catalogue title closely


def _guessed_ids(
    guessed: Sequence[str], titles: TitleIndex, excluded: set[int], criteria: AnimeCriteria | None
) -> list[int]:
    """The catalogue anime Gemini's guessed titles name (a title it made up names none), within
    the filters."""
    found: list[int] = []
    for title in guessed:
        matches = titles.match(title, limit=1)
        if matches and matches[0].quality >= GUESS_MIN_QUALITY:
            mal_id = matches[0].mal_id
            if mal_id not in excluded and mal_id not in found:
                found.append(mal_id)
    if found and criteria is not None:
        allowed = set(criteria_queryset(criteria).filter(mal_id__in=found).values_list("mal_id", flat=True))
        found = [mal_id for mal_id in found if mal_id in allowed]
    return found


def _with_guesses(ranked: list[Candidate], guesses: Sequence[int], titles: TitleIndex) -> list[Candidate]:
    """Guessed anime the rankings missed join the candidates Gemini reranks, last of them; it
    judges them beside the others."""
    present = {c.mal_id for c in ranked}
    missing = [
        Candidate(mal_id, 0.0, titles.franchise_of.get(mal_id, ""), titles.members.get(mal_id, 0))
        for mal_id in guesses
        if mal_id not in present
    ]
    if not missing:
        return ranked
    keep = max(0, RERANK_TOP - len(missing))
    return ranked[:keep] + missing + ranked[keep:]


def _assisted_order(plan: QueryPlan, ranked: list[Candidate], timings: dict[str, float]) -> list[Candidate]:
    """The top ``RERANK_TOP`` candidates in Gemini's order (unchanged when it cannot say)."""
    mark = time.perf_counter()
    top = ranked[:RERANK_TOP]
    order = gemini_order(plan.text, [c.mal_id for c in top])
    timings["rerank"] = time.perf_counter() - mark
    if not order:
        return ranked
    by_id = {c.mal_id: c for c in top}
    plan.assisted.append("rerank")
    return [by_id[mal_id] for mal_id in order] + ranked[RERANK_TOP:]


def _meaning_reasons(hits: Sequence[SearchHit], vector: np.ndarray) -> None:
    """Add "similar story" to the cards whose synopsis is close to the description in meaning
    (cosine of the two embeddings; the card's vector is read back from the index)."""
    if not hits:
        return
    try:
        with engine().reading(index_base()) as collection:
            records = collection.retrieve([hit.anime.mal_id for hit in hits], vectors=[DENSE])
    except EngineError:
        return  # only the explanation is missing; the results stand
    similarity = {r.id: float(np.dot(np.asarray(r.vectors[DENSE], dtype=np.float32), vector)) for r in records}
    for hit in hits:
        if similarity.get(hit.anime.mal_id, 0.0) >= MEANING_MIN:
            hit.reasons.insert(1 if hit.title_match else 0, Reason("meaning", "similar story"))


def criteria_with(criteria: AnimeCriteria | None, filters: dict[str, object]) -> AnimeCriteria | None:
    """The user's filters plus the explicit constraints the query stated (the user's win)."""
    if not filters:
        return criteria
    base = criteria or AnimeCriteria()
    changes = {key: value for key, value in filters.items() if key in FILTER_KEYS and getattr(base, key) in (None, "")}
    return dataclass_replace(base, **changes) if changes else base


def _fallback[T](what: str, error: EngineError, answer: Callable[[EngineError], T]) -> T:
    """The one place where search and "more like this" decide to answer without the index."""
    logger.warning("%s: the search index cannot answer (%s); answering from the database", what, error)
    return answer(error)


def similar_anime(anime: Anime, *, limit: int = 6, criteria: AnimeCriteria | None = None) -> SimilarResults:
    """The nearest anime by dense vector, outside ``anime``'s own franchise (a filter inside the
    engine, with ``criteria``: the ``list`` filter), one per franchise; popular anime sharing its
    genres when the index cannot answer."""
    try:
        chosen = _similar_ranked(anime, limit=limit, criteria=criteria)
    except EngineError as error:
        return _fallback(
            "more like this",
            error,
            lambda _: SimilarResults(similar_fallback(anime, limit=limit, criteria=criteria), True),
        )
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[c[0] for c in chosen]).prefetch_related("genres")}
    return SimilarResults([SearchHit(anime=objects[m], score=s) for m, s in chosen if m in objects])


def _similar_ranked(anime: Anime, *, limit: int, criteria: AnimeCriteria | None = None) -> list[tuple[int, float]]:
    with engine().reading(index_base()) as collection:
        records = collection.retrieve([anime.mal_id], vectors=[DENSE])
        if not records or DENSE not in records[0].vectors:
            return []
        own = anime.franchise_key
        query_filter = criteria_filter(criteria, exclude_franchise=own, exclude_ids=() if own else (anime.mal_id,))
        hits = collection.query(
            [VectorQuery(DENSE, records[0].vectors[DENSE])],
            limit=limit * 4,
            filter=query_filter,
            payload=["franchise_key"],
        )
    chosen = first_per_franchise(hits, lambda hit: str(hit.payload.get("franchise_key", "")), limit)
    return [(hit.id, hit.score) for hit in chosen]
