"""Reads of the catalogue used by pages, API and commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, F, QuerySet
from django.http import QueryDict

from catalog.filters import AnimeFilter
from catalog.models import Anime, AnimeRelation, CatalogImport, Genre, RelationType, Tag
from catalog.tiers import TIER_ORDER
from jobs.owners import owner_gone


def anime_list(*, params: QueryDict, request: Any = None) -> AnimeFilter:
    """The filter bound to ``params`` over the whole catalogue (``request``: whose list the
    ``list`` filter reads); check ``is_valid()``, then read ``.qs`` (filtered, sorted, genres
    prefetched) or ``.errors``."""
    return AnimeFilter(params, queryset=Anime.objects.with_genres(), request=request)


def anime_page_rows(ids: Sequence[int]) -> list[Anime]:
    """The anime of one page of ids, in that order, with their genres (what a card shows).
    Lists page their ids first and read the rows of one page after: sorting and skipping
    thousands of narrow ids is cheap, sorting whole rows (synopses, episode titles) is not."""
    rows = Anime.objects.with_genres().in_bulk(list(ids))
    return [rows[mal_id] for mal_id in ids if mal_id in rows]


def anime_get(*, mal_id: int) -> Anime | None:
    return Anime.objects.with_genres().prefetch_related("tags", "relations").filter(mal_id=mal_id).first()


# The relations by which an anime follows another: its prequel and its parent story. Sequels,
# side stories, summaries, alternative versions and spin-offs do not make an earlier entry.
FOLLOW_RELATIONS = (RelationType.PREQUEL, RelationType.PARENT)


def anime_follows_graph() -> dict[int, tuple[int, ...]]:
    """MAL id -> the MAL ids it directly follows (prequels and parent stories), over the whole
    catalogue; a followed id may be outside it."""
    graph: dict[int, set[int]] = {}
    pairs = AnimeRelation.objects.filter(relation__in=FOLLOW_RELATIONS).values_list("anime_id", "related_mal_id")
    for anime_id, related in pairs.order_by():
        if anime_id != related:
            graph.setdefault(anime_id, set()).add(related)
    return {mal_id: tuple(sorted(related)) for mal_id, related in graph.items()}


def anime_related_graph() -> dict[int, tuple[int, ...]]:
    """MAL id -> the MAL ids it is linked to by any relation that is not a follow (an alternative
    version, a spin-off, a side story, shared characters, …), in either direction, over the whole
    catalogue; the evaluator's "related entries" (``evaluator.franchise``)."""
    graph: dict[int, set[int]] = {}
    pairs = AnimeRelation.objects.exclude(relation__in=FOLLOW_RELATIONS).values_list("anime_id", "related_mal_id")
    for anime_id, related in pairs.order_by():
        if anime_id != related:
            graph.setdefault(anime_id, set()).add(related)
            graph.setdefault(related, set()).add(anime_id)
    return {mal_id: tuple(sorted(related)) for mal_id, related in graph.items()}


def anime_ids() -> list[int]:
    """Every MAL id of the catalogue, ascending."""
    return list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))


def anime_all() -> QuerySet[Anime]:
    """Every anime, genres prefetched: the base the API's filter backend narrows with AnimeFilter."""
    return Anime.objects.with_genres()


def genres_with_anime_count() -> QuerySet[Genre]:
    """Every genre, theme and demographic with ``anime_count``, by kind then name."""
    return Genre.objects.annotate(anime_count=Count("anime")).order_by("kind", "name")


def catalog_import_running() -> CatalogImport | None:
    """The import filling the catalogue right now, if any (one whose process died is not)."""
    for run in CatalogImport.objects.running():
        if not (run.owner and owner_gone(run.owner)):
            return run
    return None


def tags_with_anime_count() -> QuerySet[Tag]:
    """Every tag with ``anime_count``, by name."""
    return Tag.objects.annotate(anime_count=Count("anime")).order_by("name")


def anime_related(*, anime: Anime) -> QuerySet[Anime]:
    """Other entries of the same franchise, oldest first (adult ones only beside an adult one)."""
    related = Anime.objects.in_franchise(anime.franchise_key).exclude(mal_id=anime.mal_id)
    return (related if anime.adult else related.for_everyone()).order_by("year", "mal_id")


def genres_by_kind() -> dict[str, list[Genre]]:
    grouped: dict[str, list[Genre]] = {kind: [] for kind, _ in Genre.Kind.choices}
    for genre in Genre.objects.order_by("name"):
        grouped.setdefault(genre.kind, []).append(genre)
    return grouped


def genre_groups() -> list[tuple[str, list[Genre]]]:
    """(kind label, genres by name) for each kind that has genres: the pickers of the filter form."""
    labels = dict(Genre.Kind.choices)
    return [(labels.get(kind, kind.title()), genres) for kind, genres in genres_by_kind().items() if genres]


def catalogue_has_adult() -> bool:
    """Whether the catalogue holds adult titles (only when ``CATALOG_INCLUDE`` brings them in):
    the filter forms offer the ``adult`` choice only then."""
    return Anime.objects.filter(adult=True).exists()


def tier_counts() -> dict[str, int]:
    """How many anime each tier holds (every tier present, zero when empty)."""
    counts = {tier.value: 0 for tier in TIER_ORDER}
    for row in Anime.objects.for_everyone().exclude(tier="").values("tier").annotate(n=Count("mal_id")):
        counts[row["tier"]] = row["n"]
    return counts


def anime_most_watched_per_tier(*, limit: int) -> dict[str, list[Anime]]:
    """The ``limit`` anime with the most members in each tier, best tier first."""
    return {
        tier.value: list(
            Anime.objects.for_everyone()
            .with_genres()
            .with_tier(tier)
            .order_by(F("members").desc(nulls_last=True), "mal_id")[:limit]
        )
        for tier in TIER_ORDER
    }
