"""The one pipeline: item -> normalised record -> ``catalog.services.anime_upsert``.

Scrapy runs on asyncio; Django's ORM refuses to run inside the event loop, so every database
call goes through ``sync_to_async(thread_sensitive=True)``: one worker thread owns the
connection, writes stay serial (SQLite-safe) and the reactor keeps downloading meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import close_old_connections
from django.utils import timezone
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from catalog.records import AnimeRecord, RecordError, record_from_jikan, record_from_mal
from catalog.search.freshness import index_on_commit, touches_index
from catalog.services import CREATED, UpsertResult, anime_upsert, tier_thresholds_current
from catalog.tiers import Cutoffs
from crawler.items import JikanAnimeItem, MalAnimeItem

logger = logging.getLogger(__name__)


def record_for(item: Any) -> AnimeRecord:
    """The catalogue record of a crawled item (raises ``RecordError`` with a reason)."""
    fetched_at = timezone.now()
    if isinstance(item, JikanAnimeItem):
        if not isinstance(item.data, dict):
            raise RecordError("wrong type: item", "a Jikan anime object must be a JSON object")
        return record_from_jikan(item.data, source="jikan", fetched_at=fetched_at)
    if isinstance(item, MalAnimeItem):
        return record_from_mal(asdict(item), source="mal", fetched_at=fetched_at)
    raise RecordError("unknown item", type(item).__name__)


def _store(record: AnimeRecord, cutoffs: Cutoffs | None) -> UpsertResult:
    # Indexing is batched at the end of the crawl (like import_anime), not one task per anime.
    return anime_upsert(record=record, cutoffs=cutoffs, index=False)


def _index(mal_ids: list[int]) -> None:
    index_on_commit(mal_ids)
    close_old_connections()


def _current_cutoffs() -> Cutoffs | None:
    current = tier_thresholds_current()
    return current.cutoffs if current else None


class CataloguePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.cutoffs: Cutoffs | None = None
        self.to_index: list[int] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CataloguePipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        self.cutoffs = await sync_to_async(_current_cutoffs, thread_sensitive=True)()

    async def close_spider(self) -> None:
        """Hand the anime created or changed in search-visible fields to the search index
        (Celery batches; eager without a broker), then release the connection."""
        self.stats.set_value("crawl/to_index", len(self.to_index))
        await sync_to_async(_index, thread_sensitive=True)(self.to_index)

    def _drop(self, item: Any, reason: str, detail: str) -> DropItem:
        self.stats.inc_value(f"crawl/skipped/{reason}")
        url = getattr(item, "url", "")
        logger.warning("dropped %s: %s%s", url or type(item).__name__, reason, f" ({detail})" if detail else "")
        return DropItem(f"{reason}: {detail}" if detail else reason)

    async def process_item(self, item: Any) -> Any:
        try:
            record = record_for(item)
        except RecordError as exc:
            raise self._drop(item, exc.reason, exc.detail) from None
        try:
            result = await sync_to_async(_store, thread_sensitive=True)(record, self.cutoffs)
        except RecordError as exc:
            raise self._drop(item, exc.reason, exc.detail) from None
        except ValidationError as exc:
            # A value the model rejects (an over-long title, a bad URL) skips the record.
            raise self._drop(item, "invalid record", f"MAL id {record.mal_id}: {exc}") from None
        self.stats.inc_value(f"crawl/{result.status}")
        if result.status == CREATED or touches_index(result.changed_fields):
            self.to_index.append(record.mal_id)
        if result.changed_fields:
            logger.debug("MAL id %s %s: %s", record.mal_id, result.status, ", ".join(result.changed_fields))
        return item
