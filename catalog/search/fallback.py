"""Reduced-mode search: what the site answers from when the search index cannot (a Qdrant server
that is down, a shard on disk that cannot be read, no index built yet).

The database's own keyword search (``AnimeQuerySet.keyword_search``: Postgres full-text search,
or a weighted word count on SQLite) with the same filters, the same title matching, franchise
folding and snippets as the real service. The results carry ``degraded=True`` so the page shows
a notice and the API says so. "More like this" falls back to popular anime sharing the most
genres, outside the anime's own franchise.
"""

from __future__ import annotations

import logging
import time

from django.db.models import Count, F, Q

from catalog.filters import AnimeCriteria
from catalog.franchise import first_per_franchise
from catalog.models import Anime
from catalog.search.engine import EngineError, IndexMissing, engine
from catalog.search.index import POPULAR, generation_slice, index_base, index_build_running
from catalog.search.results import Candidate, SearchHit, SearchResults, criteria_queryset, results_assemble
from catalog.search.understanding import QueryPlan

logger = logging.getLogger(__name__)

DEGRADED_NOTICE = (
    "Search is running in reduced mode: the search index cannot be reached, so results come from "
    "a plain keyword search and may be less relevant."
)
BUILDING_NOTICE = (
    "The search index is being built ({percent}% done): until it is ready, results come from a "
    "plain keyword search and may be less relevant."
)

POPULAR_NOTICE = (
    "Search covers the popular anime for now: the rest of the catalogue is being indexed "
    "({percent}% done) and joins the results when it is ready."
)


def index_notice() -> str:
    """What the search page says before any query when the index cannot answer yet, or answers
    from the popular slice only ("" when the whole catalogue is live)."""
    try:
        live = engine().live(index_base())
        if live is not None:
            if generation_slice(live.format) != POPULAR:
                return ""
            build = index_build_running()
            return POPULAR_NOTICE.format(percent=build.percent if build is not None else 0)
    except EngineError:
        return DEGRADED_NOTICE
    build = index_build_running()
    return BUILDING_NOTICE.format(percent=build.percent) if build is not None else DEGRADED_NOTICE


def fallback_notice(cause: BaseException | None) -> tuple[str, int | None]:
    """The notice to show, and the first build's progress when that is why there is no index."""
    if isinstance(cause, IndexMissing):
        build = index_build_running()
        if build is not None:
            return BUILDING_NOTICE.format(percent=build.percent), build.percent
    return DEGRADED_NOTICE, None


# Candidates taken from the keyword ranking before folding.
CANDIDATES = 100


def search_keyword_fallback(
    query: str,
    *,
    criteria: AnimeCriteria | None = None,
    limit: int = 10,
    mode: str = "hybrid",
    fold_franchises: bool = True,
    cause: BaseException | None = None,
    plan: QueryPlan | None = None,
) -> SearchResults:
    """The same answer shape as ``search_anime``, from the database alone; ``cause`` is why the
    index did not answer (it picks the notice)."""
    started = time.perf_counter()
    rows = criteria_queryset(criteria).keyword_search(query).values_list("mal_id", "franchise_key", "members")
    # keyword_rank order, turned into a descending 0-1 score so the API's number still means "better".
    ranked = [
        Candidate(mal_id, 1.0 / (1 + rank), key, members or 0)
        for rank, (mal_id, key, members) in enumerate(rows[:CANDIDATES])
    ]
    results = results_assemble(
        ranked,
        query=query,
        criteria=criteria,
        mode=mode,
        limit=limit,
        fold_franchises=fold_franchises,
        title_score=1.0,
        typed=plan.query if plan is not None else "",
        excluded=plan.excluded_ids if plan is not None else (),
    )
    results.timings = {"total": time.perf_counter() - started}
    results.degraded = True
    if plan is not None:
        results.query, results.plan = plan.query, plan
    results.notice, results.index_building = fallback_notice(cause)
    return results


def similar_fallback(anime: Anime, *, limit: int = 6, criteria: AnimeCriteria | None = None) -> list[SearchHit]:
    """Popular anime sharing the most genres with ``anime``, one per franchise, outside its own
    (within ``criteria``: the ``list`` filter)."""
    genre_ids = list(anime.genres.values_list("pk", flat=True))
    if not genre_ids:
        return []
    base = (criteria or AnimeCriteria()).apply(Anime.objects.all())
    candidates = (
        base.exclude(mal_id=anime.mal_id)
        .exclude(franchise_key=anime.franchise_key)
        .filter(genres__in=genre_ids)
        .annotate(shared=Count("genres", filter=Q(genres__in=genre_ids)))
        .order_by("-shared", F("members").desc(nulls_last=True), "mal_id")
        .values_list("mal_id", "franchise_key", "shared")[: limit * 10]
    )
    chosen = [
        (mal_id, shared / len(genre_ids))
        for mal_id, _, shared in first_per_franchise(candidates, lambda row: row[1], limit)
    ]
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[m for m, _ in chosen]).prefetch_related("genres")}
    return [SearchHit(anime=objects[m], score=s) for m, s in chosen if m in objects]
