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
from catalog.models import Anime

logger = logging.getLogger(__name__)

DEGRADED_NOTICE = (
    "Search is running in reduced mode: the search index cannot be reached, so results come from "
    "a plain keyword search and may be less relevant."
)
BUILDING_NOTICE = (
    "The search index is being built ({percent}% done): until it is ready, results come from a "
    "plain keyword search and may be less relevant."
)


def index_notice() -> str:
    """What the search page says before any query when the index cannot answer yet ("" when it can)."""
    from catalog.search.engine import EngineError, engine
    from catalog.search.index import index_base, index_build_running

    try:
        if engine().live(index_base()) is not None:
            return ""
    except EngineError:
        return DEGRADED_NOTICE
    build = index_build_running()
    return BUILDING_NOTICE.format(percent=build.percent) if build is not None else DEGRADED_NOTICE


def fallback_notice(cause: BaseException | None) -> tuple[str, int | None]:
    """The notice to show, and the first build's progress when that is why there is no index."""
    from catalog.search.engine import IndexMissing
    from catalog.search.index import index_build_running

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
):  # -> SearchResults
    """The same answer shape as ``search_anime``, from the database alone; ``cause`` is why the
    index did not answer (it picks the notice)."""
    from catalog.search.service import (
        SearchResults,
        criteria_queryset,
        fold_franchise_hits,
        hits_hydrate,
    )
    from catalog.search.titles import title_index

    started = time.perf_counter()
    base = criteria_queryset(criteria)
    rows = list(base.keyword_search(query).values_list("mal_id", "franchise_key", "members")[:CANDIDATES])
    franchise = {mal_id: key for mal_id, key, _ in rows}
    members = {mal_id: count or 0 for mal_id, _, count in rows}
    # keyword_rank order, turned into a descending 0-1 score so the API's number still means "better".
    score_of = {mal_id: 1.0 / (1 + rank) for rank, (mal_id, _, _) in enumerate(rows)}

    titles = title_index()
    matches = titles.match(query)
    title_ids: list[int] = []
    if matches:
        allowed = {
            mal_id: (key, count or 0)
            for mal_id, key, count in base.filter(mal_id__in=[m.mal_id for m in matches]).values_list(
                "mal_id", "franchise_key", "members"
            )
        }
        for match in matches:
            if match.mal_id in allowed and match.mal_id not in title_ids:
                title_ids.append(match.mal_id)
                franchise[match.mal_id], members[match.mal_id] = allowed[match.mal_id]
                score_of[match.mal_id] = max(score_of.get(match.mal_id, 0.0), 1.0)
    title_set = set(title_ids)
    order = title_ids + [mal_id for mal_id, _, _ in rows if mal_id not in title_set]
    groups = fold_franchise_hits(
        order, franchise=franchise, members=members, preferred=title_set, limit=limit, fold=fold_franchises
    )
    hits = hits_hydrate(groups, query=query, titles=titles, score_of=score_of, title_set=title_set)
    total = time.perf_counter() - started
    notice, building = fallback_notice(cause)
    return SearchResults(
        query=query,
        mode=mode,
        hits=hits,
        fold=fold_franchises,
        timings={"total": total},
        degraded=True,
        notice=notice,
        index_building=building,
    )


def similar_fallback(anime: Anime, *, limit: int = 6) -> list:  # -> list[SearchHit]
    """Popular anime sharing the most genres with ``anime``, one per franchise, outside its own."""
    from catalog.search.service import SearchHit

    genre_ids = list(anime.genres.values_list("pk", flat=True))
    if not genre_ids:
        return []
    candidates = (
        Anime.objects.exclude(mal_id=anime.mal_id)
        .exclude(franchise_key=anime.franchise_key)
        .filter(genres__in=genre_ids)
        .annotate(shared=Count("genres", filter=Q(genres__in=genre_ids)))
        .order_by("-shared", F("members").desc(nulls_last=True), "mal_id")
        .values_list("mal_id", "franchise_key", "shared")[: limit * 10]
    )
    chosen: list[tuple[int, float]] = []
    seen: set[str] = set()
    for mal_id, key, shared in candidates:
        if key and key in seen:
            continue
        if key:
            seen.add(key)
        chosen.append((mal_id, shared / len(genre_ids)))
        if len(chosen) >= limit:
            break
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[m for m, _ in chosen]).prefetch_related("genres")}
    return [SearchHit(anime=objects[m], score=s) for m, s in chosen if m in objects]
