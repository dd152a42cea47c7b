"""Reads of the upcoming anime: what ``upcoming_refresh`` predicts, and the stored predictions the
pages and API show."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from catalog.models import Anime
from evaluator.models import SEASON_ORDER, UNKNOWN_SEASON, UpcomingPrediction, season_key
from evaluator.upcoming.filters import UpcomingFilter

PROMISING = 4


def upcoming_anime() -> QuerySet[Anime]:
    """The catalogue's anime with no score yet: not yet aired, or airing without a score."""
    return (
        Anime.objects.filter(Q(status=Anime.Status.UPCOMING) | Q(status=Anime.Status.AIRING, score__isnull=True))
        .with_genres()
        .order_by("mal_id")
    )


def upcoming_filter(*, params: QueryDict, request: Any = None) -> UpcomingFilter:
    """The upcoming filter bound to ``params``: check ``is_valid()``, then ``predictions()``."""
    # Only the anime that have a prediction: the filter's subquery then reads a few hundred rows.
    anime = Anime.objects.filter(mal_id__in=UpcomingPrediction.objects.values("anime_id"))
    return UpcomingFilter(params, queryset=anime, request=request)


def upcoming_page_rows(ids: Sequence[int]) -> list[UpcomingPrediction]:
    """The predictions of one page of ids, in that order, with their anime and its genres."""
    rows = UpcomingPrediction.objects.select_related("anime").prefetch_related("anime__genres").in_bulk(list(ids))
    return [rows[pk] for pk in ids if pk in rows]


def upcoming_stored() -> UpcomingPrediction | None:
    """One stored prediction (its run and time say which model and when), or None."""
    return UpcomingPrediction.objects.select_related("run").order_by("-computed_at").first()


def season_next(today: datetime.date | None = None) -> int:
    """The season key of the season after today's (winter: January-March, as MyAnimeList has it)."""
    today = today or timezone.now().date()
    rank = (today.month - 1) // 3 + 1
    year = today.year + rank // len(SEASON_ORDER)
    return season_key(year, SEASON_ORDER[rank % len(SEASON_ORDER)])


def upcoming_promising(*, limit: int = PROMISING, today: datetime.date | None = None) -> list[UpcomingPrediction]:
    """The next season's most promising anime (highest predicted score first); when the
    catalogue has nothing announced for it, the first later season that has some."""
    after = season_next(today)
    keys = (
        UpcomingPrediction.objects.without_adult()
        .filter(season_key__gte=after)
        .order_by("season_key")
        .values_list("season_key", flat=True)
        .distinct()
    )
    # A year announced without its season is not a season ("2027": key 20274).
    first = next((key for key in keys if key % 10 != UNKNOWN_SEASON), None)
    if first is None:
        return []
    return list(
        UpcomingPrediction.objects.without_adult()
        .filter(season_key=first)
        .select_related("anime")
        .order_by("-predicted_score", "anime_id")[:limit]
    )
