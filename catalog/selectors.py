"""Reads of the catalogue used by pages, API and commands."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.http import QueryDict

from catalog.filters import AnimeFilter
from catalog.models import Anime, Genre
from catalog.tiers import TIER_ORDER


def anime_list(*, params: QueryDict, request: Any = None) -> AnimeFilter:
    """The filter bound to ``params`` over the whole catalogue (``request``: whose list the
    ``list`` filter reads); check ``is_valid()``, then read ``.qs`` (filtered, sorted, genres
    prefetched) or ``.errors``."""
    return AnimeFilter(params, queryset=Anime.objects.with_genres(), request=request)


def anime_get(*, mal_id: int) -> Anime | None:
    return Anime.objects.with_genres().filter(mal_id=mal_id).first()


def anime_ids() -> list[int]:
    """Every MAL id of the catalogue, ascending."""
    return list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))


def anime_all() -> QuerySet[Anime]:
    """Every anime, genres prefetched: the base the API's filter backend narrows with AnimeFilter."""
    return Anime.objects.with_genres()


def genres_with_anime_count() -> QuerySet[Genre]:
    """Every genre, theme and demographic with ``anime_count``, by kind then name."""
    return Genre.objects.annotate(anime_count=Count("anime")).order_by("kind", "name")


def anime_related(*, anime: Anime) -> QuerySet[Anime]:
    """Other entries of the same franchise, oldest first."""
    return Anime.objects.in_franchise(anime.franchise_key).exclude(mal_id=anime.mal_id).order_by("year", "mal_id")


def genres_by_kind() -> dict[str, list[Genre]]:
    grouped: dict[str, list[Genre]] = {kind: [] for kind, _ in Genre.Kind.choices}
    for genre in Genre.objects.order_by("name"):
        grouped.setdefault(genre.kind, []).append(genre)
    return grouped


def genre_groups() -> list[tuple[str, list[Genre]]]:
    """(kind label, genres by name) for each kind that has genres: the pickers of the filter form."""
    labels = dict(Genre.Kind.choices)
    return [(labels.get(kind, kind.title()), genres) for kind, genres in genres_by_kind().items() if genres]


def tier_counts() -> dict[str, int]:
    """How many anime each tier holds (every tier present, zero when empty)."""
    counts = {tier.value: 0 for tier in TIER_ORDER}
    for row in Anime.objects.exclude(tier="").values("tier").annotate(n=Count("mal_id")):
        counts[row["tier"]] = row["n"]
    return counts


def anime_most_watched_per_tier(*, limit: int) -> dict[str, list[Anime]]:
    """The ``limit`` anime with the most members in each tier, best tier first."""
    return {
        tier.value: list(Anime.objects.with_genres().with_tier(tier).order_by("-members", "mal_id")[:limit])
        for tier in TIER_ORDER
    }
