"""``{% similar_anime anime %}``: the "More like this" section of the detail page."""

from __future__ import annotations

import logging
from typing import Any

from django import template
from django.db import DatabaseError

from catalog.models import Anime
from catalog.search.engine import EngineError
from catalog.search.fallback import similar_fallback
from catalog.search.service import similar_anime as similar_anime_search

logger = logging.getLogger(__name__)
register = template.Library()

SIMILAR_ON_PAGE = 6


@register.inclusion_tag("catalog/similar_anime.html")
def similar_anime(anime: Anime) -> dict[str, Any]:
    try:
        hits = similar_anime_search(anime, limit=SIMILAR_ON_PAGE)
        unavailable = False
    except EngineError as exc:
        # Degrade, don't fail: popular anime sharing its genres; a quiet note if even that fails.
        logger.warning("similar anime unavailable for %s, using genre neighbours: %s", anime.mal_id, exc)
        try:
            hits, unavailable = similar_fallback(anime, limit=SIMILAR_ON_PAGE), False
        except DatabaseError:
            logger.exception("genre neighbours failed for %s", anime.mal_id)
            hits, unavailable = [], True
    return {"anime": anime, "hits": hits, "unavailable": unavailable}
