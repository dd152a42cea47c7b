from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="catalog.tasks.anime_index_batch", acks_late=True, max_retries=3, default_retry_delay=10)
def anime_index_batch(mal_ids: list[int]) -> dict[str, int]:
    """(Re-)index these anime in search. Idempotent: unchanged anime are skipped, removed ones
    are dropped from the index, embeddings come from the cache when the text was seen before."""
    from catalog.search.index import anime_index

    stats = anime_index([int(i) for i in mal_ids])
    if stats.missing:
        # Nothing to update yet: the first full build (build_index) will include these anime.
        logger.info("no search index yet; %s anime left for the first build", len(mal_ids))
    else:
        logger.info("indexed %s, unchanged %s, removed %s", stats.indexed, stats.unchanged, stats.deleted)
    return {"indexed": stats.indexed, "unchanged": stats.unchanged, "deleted": stats.deleted}


@shared_task(name="catalog.tasks.anime_lists_expire", acks_late=True)
def anime_lists_expire() -> dict[str, int]:
    """Delete signed-out visitors' lists past their expiry, and expired sessions (beat, daily)."""
    from catalog.lists.services import anime_lists_expire as expire

    lists, sessions = expire()
    logger.info("deleted %s expired lists and %s expired sessions", lists, sessions)
    return {"lists": lists, "sessions": sessions}
