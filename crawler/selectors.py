"""Reads of the crawler."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from catalog.models import Anime


def stale_skip_ids(*, days: int) -> set[int]:
    """MAL ids fetched less than ``days`` ago: a --stale-days crawl leaves them alone."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    return set(Anime.objects.filter(fetched_at__gte=cutoff).values_list("mal_id", flat=True))


def relations_unchecked(*, mal_ids: Iterable[int]) -> set[int]:
    """Those of ``mal_ids`` whose related anime no source has given yet."""
    return set(
        Anime.objects.filter(mal_id__in=list(mal_ids), relations_checked_at__isnull=True).values_list(
            "mal_id", flat=True
        )
    )


def stored_ids(*, mal_ids: Iterable[int]) -> set[int]:
    """Those of ``mal_ids`` that are in the catalogue."""
    return set(Anime.objects.filter(mal_id__in=list(mal_ids)).values_list("mal_id", flat=True))
