"""The one pipeline: item -> normalised record -> the catalogue's upsert service.

Scrapy runs on asyncio; Django's ORM refuses to run inside the event loop, so every database
call goes through ``sync_to_async(thread_sensitive=True)``: one worker thread owns the
connection, writes stay serial (SQLite-safe) and the reactor keeps downloading meanwhile.

Records are written in small batches (``anime_upsert_many``, one transaction each): a commit
per anime costs ~20 ms of fsync on SQLite, more than parsing the page. A batch is flushed when
it is full, when a second later items are still waiting, and when the spider closes, so a
throttled crawl still stores each anime within about a second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, close_old_connections, connection
from django.utils import timezone
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from catalog.models import TierThresholds
from catalog.records import AnimeRecord, RecordError, record_from_jikan, record_from_mal
from catalog.search.freshness import index_on_commit, touches_index
from catalog.services import CREATED, SKIPPED, UPDATED, UpsertResult, anime_upsert_many
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


def _recycle_connection() -> None:
    """What Django does around each request: drop a connection that broke or outlived
    CONN_MAX_AGE, so an hours-long crawl survives a database restart. (Not inside an atomic
    block: the tests run the pipeline inside their transaction.)"""
    if not connection.in_atomic_block:
        close_old_connections()


def _store(records: list[AnimeRecord], cutoffs: Cutoffs | None) -> list[UpsertResult]:
    _recycle_connection()
    # Indexing is handed over once at the end of the crawl (like import_anime), not per batch.
    try:
        return anime_upsert_many(records=records, cutoffs=cutoffs, index=False)
    except IntegrityError:
        # Another process (the other spider, an import) created one of these anime between
        # our read and our insert: it exists now, so the retry takes the update path.
        return anime_upsert_many(records=records, cutoffs=cutoffs, index=False)


def _index(mal_ids: list[int]) -> None:
    index_on_commit(mal_ids)
    _recycle_connection()


def _current_cutoffs() -> Cutoffs | None:
    current = TierThresholds.objects.current()
    return current.cutoffs if current else None


class CataloguePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.batch_size = crawler.settings.getint("CRAWL_WRITE_BATCH", 50)
        self.batch_seconds = crawler.settings.getfloat("CRAWL_WRITE_INTERVAL", 1.0)
        self.cutoffs: Cutoffs | None = None
        self.pending: dict[int, AnimeRecord] = {}
        self.last_flush = time.monotonic()
        self.to_index: list[int] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CataloguePipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        self.cutoffs = await sync_to_async(_current_cutoffs, thread_sensitive=True)()

    async def close_spider(self) -> None:
        """Store what is pending, then hand the anime created or changed in search-visible
        fields to the search index (Celery batches; eager without a broker)."""
        await self.flush()
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
        if record.mal_id in self.pending:  # a batch holds distinct ids
            await self.flush()
        self.pending[record.mal_id] = record
        if len(self.pending) >= self.batch_size or time.monotonic() - self.last_flush >= self.batch_seconds:
            await self.flush()
        return item

    async def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        records = list(self.pending.values())
        self.pending.clear()
        results = await sync_to_async(_store, thread_sensitive=True)(records, self.cutoffs)
        for result in results:
            if result.status == SKIPPED:
                self.stats.inc_value(f"crawl/skipped/{result.reason}")
                logger.warning("dropped MAL id %s: %s", result.mal_id, result.reason)
                continue
            self.stats.inc_value(f"crawl/{result.status}")
            if result.status == CREATED or (result.status == UPDATED and touches_index(result.changed_fields)):
                self.to_index.append(result.mal_id)
