"""Reads of the crawler."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from catalog.models import Anime


def stale_skip_ids(*, days: int) -> set[int]:
    """MAL ids fetched less than ``days`` ago: a --stale-days crawl leaves them alone."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    return set(Anime.objects.filter(fetched_at__gte=cutoff).values_list("mal_id", flat=True))
