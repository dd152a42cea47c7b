"""Optional help from Gemini for long descriptions: it rewrites the description into clues (and
names the anime it recognises, if any) before retrieval, and reranks the top candidates after it.
A named anime joins the candidates only through the catalogue's own title index, so a made-up
title finds nothing; the rerank then judges it beside the others on its synopsis.

On only when ``GEMINI_API_KEY`` is set and ``SEARCH_GEMINI`` is not off, and only for
descriptions (``LONG_QUERY_WORDS`` words or more): a title or a short query never waits for it.
Each call has its own short timeout (``SEARCH_GEMINI_TIMEOUT``) and one attempt, no retry; a timeout or any
failure gives the results without it (the offline clues, the offline order) and is logged. The
prompts hold only the query and, for the rerank, the candidates' titles, year, type and the start
of their synopses. Answers are cached by query, so the page, its HTMX swaps and the API ask once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from catalog.models import Anime
from catalog.search.understanding import LONG_QUERY_WORDS, MAX_CLUES, QueryPlan

logger = logging.getLogger(__name__)

RERANK_TOP = 20
MAX_GUESSES = 3
SYNOPSIS_CHARS = 500
CACHE_SECONDS = 24 * 3600

CLUES_INSTRUCTION = (
    "A fan describes an anime they only half remember; parts may be wrong. Rewrite the description as "
    f"at most {MAX_CLUES} short search clues, one remembered thing each (the premise, a scene, a character, "
    "a creature, an object), in the plain words a plot summary would use. Leave out hedges, opinions and "
    "anything the fan says it is not. If you recognise the anime, also give up to "
    f"{MAX_GUESSES} titles it may be (MyAnimeList's romaji or English titles), likeliest first; "
    "otherwise an empty list."
)
CLUES_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "clues": {"type": "ARRAY", "items": {"type": "STRING"}},
        "titles": {"type": "ARRAY", "items": {"type": "STRING"}},
    },
    "required": ["clues", "titles"],
}
RERANK_INSTRUCTION = (
    "A fan describes an anime they only half remember; parts may be wrong. Below are candidate anime "
    "with their MyAnimeList ids. Order the ids from the most to the least likely answer. Use only ids "
    "from the list."
)
RERANK_SCHEMA = {
    "type": "OBJECT",
    "properties": {"ranking": {"type": "ARRAY", "items": {"type": "INTEGER"}}},
    "required": ["ranking"],
}


def assist_enabled(plan: QueryPlan) -> bool:
    return bool(settings.SEARCH_GEMINI and settings.GEMINI_API_KEY) and len(plan.text.split()) >= LONG_QUERY_WORDS


def _ask(instruction: str, prompt: str, schema: dict[str, object]) -> dict[str, object] | None:
    """One structured generateContent call; None on any failure (logged)."""
    key = "search-assist:" + hashlib.sha256(f"{settings.GEMINI_MODEL}\n{instruction}\n{prompt}".encode()).hexdigest()
    try:
        cached = cache.get(key)
    except Exception:  # a cache outage (Redis down) must not cost the search
        logger.warning("search assist: the cache cannot answer", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    try:
        from animesite.gemini import gemini_json

        # One attempt: a search waits once.
        answer = gemini_json(
            instruction=instruction,
            prompt=prompt,
            schema=schema,
            temperature=0.0,
            timeout=settings.SEARCH_GEMINI_TIMEOUT,
            retries=1,
        )
        if not isinstance(answer, dict):
            raise ValueError(f"expected a JSON object, got {type(answer).__name__}")
    except Exception as error:  # the SDK raises many kinds (HTTP, timeout, parsing): all mean "without it"
        logger.warning(
            "search assist: Gemini did not answer (%s: %s); searching without it", type(error).__name__, error
        )
        return None
    try:
        cache.set(key, answer, CACHE_SECONDS)
    except Exception:
        logger.warning("search assist: the cache cannot store", exc_info=True)
    return answer


@dataclass(frozen=True)
class Reading:
    """What Gemini made of a description: clues to search, titles it recognised."""

    clues: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)


def _strings(value: object, most: int) -> list[str]:
    if not isinstance(value, list):
        return []
    return [" ".join(item.split())[:300] for item in value if isinstance(item, str) and item.strip()][:most]


def gemini_reading(text: str) -> Reading:
    """The description read by Gemini (empty when it cannot say)."""
    answer = _ask(CLUES_INSTRUCTION, text, CLUES_SCHEMA) or {}
    return Reading(_strings(answer.get("clues"), MAX_CLUES), _strings(answer.get("titles"), MAX_GUESSES))


def gemini_order(text: str, mal_ids: Sequence[int]) -> list[int]:
    """``mal_ids`` (the top candidates) in the order Gemini finds likeliest for ``text``; the ids
    it leaves out follow in their own order. [] when it cannot say."""
    if len(mal_ids) < 2:
        return []
    rows = {
        a.mal_id: a
        for a in Anime.objects.filter(mal_id__in=mal_ids).only(
            "mal_id", "title", "title_english", "year", "type", "synopsis"
        )
    }
    lines = []
    for mal_id in mal_ids:
        anime = rows.get(mal_id)
        if anime is None:
            continue
        synopsis = " ".join((anime.synopsis or "").split())[:SYNOPSIS_CHARS]
        lines.append(f"[{mal_id}] {anime.display_title} ({anime.type or '?'}, {anime.year or '?'}): {synopsis}")
    prompt = f"Description: {text}\n\nCandidates:\n" + "\n".join(lines)
    answer = _ask(RERANK_INSTRUCTION, prompt, RERANK_SCHEMA)
    ranking = answer.get("ranking") if answer else None
    if not isinstance(ranking, list):
        return []
    known = set(mal_ids)
    ordered = list(dict.fromkeys(i for i in ranking if isinstance(i, int) and not isinstance(i, bool) and i in known))
    if not ordered:
        return []
    return ordered + [i for i in mal_ids if i not in set(ordered)]
