"""The one pipeline: item -> normalised record -> what the catalogue keeps -> the catalogue's
upsert service; then the relations the stored anime still need, and at the end of the crawl
the franchise keys and the search index.

Scrapy runs on asyncio; Django's ORM refuses to run inside the event loop, so every database
call goes through ``sync_to_async(thread_sensitive=True)``: one worker thread owns the
connection, writes stay serial (SQLite-safe) and the reactor keeps downloading meanwhile.

A Jikan list page is stored in one go (one transaction), and only then are the relations asked
for (``/anime/{id}/relations``) of its anime that were created, changed in what relations hang
on (``RELATIONS_FOLLOW``), or never had them read. Other records (``/anime/{id}/full``,
MyAnimeList pages, relations) are written in small batches (``anime_upsert_many``): a commit
per anime costs ~20 ms of fsync on SQLite, more than parsing the page. A batch is flushed when
it is full, when a second later items are still waiting, and when the spider closes, so a
throttled crawl still stores each anime within about a second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, close_old_connections, connection
from django.utils import timezone
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from catalog.models import TierThresholds
from catalog.records import AnimeRecord, RecordError, record_from_jikan, record_from_mal, relations_from_jikan
from catalog.search.freshness import index_on_commit, touches_index
from catalog.services import (
    CREATED,
    SKIPPED,
    UPDATED,
    UpsertResult,
    anime_upsert_many,
    catalogue_refusal,
    franchise_keys_refresh,
)
from catalog.tiers import Cutoffs
from crawler.items import JikanAnimeItem, JikanListPage, JikanRelationsItem, MalAnimeItem
from crawler.selectors import relations_unchecked, stored_ids

logger = logging.getLogger(__name__)

# The fields an anime's relations hang on: a change in one of them (a new title, a TV series
# turned into a movie, a sequel announced or finished, episodes re-counted) is when MyAnimeList
# re-links entries, so the relations are read again. Counts (members, score) are not.
RELATIONS_FOLLOW = frozenset({"title", "type", "status", "episodes", "aired_from", "aired_to"})


def record_for(item: Any) -> AnimeRecord:
    """The catalogue record of a crawled item (raises ``RecordError`` with a reason)."""
    fetched_at = timezone.now()
    if isinstance(item, JikanAnimeItem):
        if not isinstance(item.data, dict):
            raise RecordError("wrong type: item", "a Jikan anime object must be a JSON object")
        return record_from_jikan(item.data, source="jikan", fetched_at=fetched_at)
    if isinstance(item, MalAnimeItem):
        return record_from_mal(asdict(item), source="mal", fetched_at=fetched_at)
    if isinstance(item, JikanRelationsItem):
        return relations_record(mal_id=item.mal_id, groups=item.groups)
    raise RecordError("unknown item", type(item).__name__)


def relations_record(*, mal_id: int, groups: Any) -> AnimeRecord:
    """A record that holds an anime's relations and nothing else: the upsert replaces the
    anime's related anime and sets ``relations_checked_at`` (to when it is stored), and leaves
    every field alone. No source, so the provenance stays; no date, so ``fetched_at`` (which
    --stale-days reads) stays the date of the anime's own record."""
    return AnimeRecord(mal_id=mal_id, fields={}, relations=relations_from_jikan(groups))


def _recycle_connection() -> None:
    """What Django does around each request: drop a connection that broke or outlived
    CONN_MAX_AGE, so an hours-long crawl survives a database restart. (Not inside an atomic
    block: the tests run the pipeline inside their transaction.)"""
    if not connection.in_atomic_block:
        close_old_connections()


def _upsert(records: list[AnimeRecord], cutoffs: Cutoffs | None) -> list[UpsertResult]:
    # Indexing is handed over once at the end of the crawl (like import_anime), not per batch.
    try:
        return anime_upsert_many(records=records, cutoffs=cutoffs, index=False)
    except IntegrityError:
        # Another process (the other spider, an import) created one of these anime between
        # our read and our insert: it exists now, so the retry takes the update path.
        return anime_upsert_many(records=records, cutoffs=cutoffs, index=False)


@dataclass
class Stored:
    results: list[UpsertResult] = field(default_factory=list)
    relations_wanted: list[int] = field(default_factory=list)  # MAL ids whose relations to read
    missing: list[int] = field(default_factory=list)  # relations of anime not in the catalogue


def _store(records: list[AnimeRecord], cutoffs: Cutoffs | None, *, relations: bool) -> Stored:
    """Store anime records; with ``relations`` (the spider can read them), say which of them
    need their relations read: those the record says nothing of relations about and that were
    created, changed in ``RELATIONS_FOLLOW``, or never had relations read."""
    _recycle_connection()
    if not records:
        return Stored()
    results = _upsert(records, cutoffs)
    if not relations:
        return Stored(results=results)
    lacking = {r.mal_id for r in records if r.relations is None}
    stored = [r for r in results if r.status != SKIPPED and r.mal_id in lacking]
    moved = {
        r.mal_id
        for r in stored
        if r.status == CREATED or (r.status == UPDATED and RELATIONS_FOLLOW.intersection(r.changed_fields))
    }
    unchecked = relations_unchecked(mal_ids=[r.mal_id for r in stored if r.mal_id not in moved]) if stored else set()
    wanted = [r.mal_id for r in stored if r.mal_id in moved or r.mal_id in unchecked]
    return Stored(results=results, relations_wanted=wanted)


def _store_relations(records: list[AnimeRecord], cutoffs: Cutoffs | None) -> Stored:
    """Store relations-only records of anime in the catalogue (one that is not, say deleted
    meanwhile, is reported back rather than created without a title)."""
    _recycle_connection()
    present = stored_ids(mal_ids=[r.mal_id for r in records])
    kept = [r for r in records if r.mal_id in present]
    return Stored(
        results=_upsert(kept, cutoffs) if kept else [],
        missing=[r.mal_id for r in records if r.mal_id not in present],
    )


def _finish(mal_ids: list[int], refresh_franchises: bool) -> int | None:
    """The end of a crawl: hand the created or changed anime to search, then (when anything was
    written) re-derive the franchise keys from the relation graph once. Returns how many keys
    changed (None: not re-derived)."""
    index_on_commit(mal_ids)
    changed = franchise_keys_refresh() if refresh_franchises else None
    _recycle_connection()
    return changed


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
        self.pending_relations: dict[int, AnimeRecord] = {}
        self.last_flush = time.monotonic()
        self.to_index: list[int] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CataloguePipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        self.cutoffs = await sync_to_async(_current_cutoffs, thread_sensitive=True)()

    async def close_spider(self) -> None:
        """Store what is pending, then hand the anime created or changed in search-visible
        fields to the search index (Celery batches; eager without a broker), and re-derive the
        franchise keys once if anything was written."""
        await self.flush()
        self.stats.set_value("crawl/to_index", len(self.to_index))
        written = sum(self.stats.get_value(f"crawl/{key}", 0) for key in ("created", "updated", "relations/changed"))
        changed = await sync_to_async(_finish, thread_sensitive=True)(self.to_index, written > 0)
        if changed is not None:
            self.stats.set_value("crawl/franchises_changed", changed)

    def _skip(self, url: str, reason: str, detail: str, *, level: int = logging.WARNING) -> None:
        self.stats.inc_value(f"crawl/skipped/{reason}")
        logger.log(level, "dropped %s: %s%s", url, reason, f" ({detail})" if detail else "")

    def _drop(self, item: Any, reason: str, detail: str, *, level: int = logging.WARNING) -> DropItem:
        self._skip(getattr(item, "url", "") or type(item).__name__, reason, detail, level=level)
        return DropItem(f"{reason}: {detail}" if detail else reason)

    def _kept(self, record: AnimeRecord) -> str:
        """Why the catalogue leaves this record out ("" when it keeps it); relations-only
        records are of anime already kept."""
        return catalogue_refusal(record) if record.fields else ""

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, JikanListPage):
            await self.store_page(item)
            return item
        try:
            record = record_for(item)
        except RecordError as exc:
            raise self._drop(item, exc.reason, exc.detail) from None
        refusal = self._kept(record)
        if refusal:
            # Thousands in a whole-catalogue crawl (music videos, adult titles): expected, counted.
            raise self._drop(item, refusal, f"MAL id {record.mal_id}", level=logging.INFO)
        pending = self.pending_relations if isinstance(item, JikanRelationsItem) else self.pending
        if record.mal_id in pending:  # a batch holds distinct ids
            await self.flush()
        pending[record.mal_id] = record
        if (
            len(self.pending) + len(self.pending_relations) >= self.batch_size
            or time.monotonic() - self.last_flush >= self.batch_seconds
        ):
            await self.flush()
        return item

    async def store_page(self, page: JikanListPage) -> None:
        """Store one list page's anime in one go, then ask for the relations they need."""
        records: dict[int, AnimeRecord] = {}
        for entry in page.entries:
            try:
                record = record_for(JikanAnimeItem(data=entry, url=page.url))
            except RecordError as exc:
                self._skip(page.url, exc.reason, exc.detail)
                continue
            refusal = self._kept(record)
            if refusal:
                self._skip(page.url, refusal, f"MAL id {record.mal_id}", level=logging.INFO)
                continue
            records[record.mal_id] = record  # an id twice on a page: the later entry
        stored = await sync_to_async(_store, thread_sensitive=True)(
            list(records.values()), self.cutoffs, relations=self.reads_relations
        )
        self.count(stored.results)
        self.ask_relations(stored.relations_wanted)

    async def flush(self) -> None:
        self.last_flush = time.monotonic()
        if self.pending:
            records = list(self.pending.values())
            self.pending.clear()
            stored = await sync_to_async(_store, thread_sensitive=True)(
                records, self.cutoffs, relations=self.reads_relations
            )
            self.count(stored.results)
            self.ask_relations(stored.relations_wanted)
        if self.pending_relations:
            records = list(self.pending_relations.values())
            self.pending_relations.clear()
            stored = await sync_to_async(_store_relations, thread_sensitive=True)(records, self.cutoffs)
            for mal_id in stored.missing:
                self._skip(f"MAL id {mal_id}", "relations of an anime not stored", "")
            self.count(stored.results, relations=True)

    def count(self, results: list[UpsertResult], *, relations: bool = False) -> None:
        for result in results:
            if result.status == SKIPPED:
                self.stats.inc_value(f"crawl/skipped/{result.reason}")
                logger.warning("dropped MAL id %s: %s", result.mal_id, result.reason)
                continue
            if relations:
                self.stats.inc_value("crawl/relations/read")
                if "relations" in result.changed_fields:
                    self.stats.inc_value("crawl/relations/changed")
            else:
                self.stats.inc_value(f"crawl/{result.status}")
            if result.status == CREATED or (result.status == UPDATED and touches_index(result.changed_fields)):
                self.to_index.append(result.mal_id)

    @property
    def reads_relations(self) -> bool:
        """Whether the spider can ask for an anime's relations (Jikan can, MyAnimeList pages not)."""
        return hasattr(self.crawler.spider, "relations_request")

    def ask_relations(self, mal_ids: list[int]) -> None:
        """Queue the spider's relations request for each of these anime."""
        if not mal_ids:
            return
        for mal_id in mal_ids:
            self.crawler.engine.crawl(self.crawler.spider.relations_request(mal_id))
        self.stats.inc_value("crawl/relations/requested", len(mal_ids))
