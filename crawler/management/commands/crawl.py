"""``manage.py crawl jikan|mal``: run a spider in this process with live progress and a summary
like ``import_anime``'s. Runs Scrapy's reactor once, so it must be its own process (Celery and
tests start it as a subprocess)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.services import tier_distribution, tier_thresholds_recompute
from crawler.extensions import skipped_by_reason
from crawler.selectors import stale_skip_ids
from crawler.services import SPIDERS, CrawlLock
from evaluator.upcoming.services import upcoming_refresh_dispatch


def _ids(value: str) -> list[int]:
    ids: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) == 0:
            raise CommandError(f"--ids must be comma-separated MAL ids (positive whole numbers), got {part!r}")
        ids.append(int(part))
    if not ids:
        raise CommandError("--ids needs at least one MAL id, e.g. --ids 1,5,21")
    return ids


class Command(BaseCommand):
    help = (
        "Crawl Jikan (API) or MyAnimeList (pages) into the catalogue: the whole catalogue (jikan: "
        "every /anime page in MAL id order, relations read for new and changed anime), the "
        "by-popularity list down to --min-members, or the titles given with --ids. Polite (rate "
        "limits, robots.txt), incremental (unchanged anime are not rewritten, relations read "
        "once), with live progress and a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("spider", help="jikan or mal")
        parser.add_argument("--limit", type=int, help="stop after this many anime")
        parser.add_argument(
            "--min-members",
            type=int,
            default=settings.CATALOG_MIN_MEMBERS,
            help="walk the by-popularity list until members fall under this; 0: the whole catalogue "
            "(default %(default)s, CATALOG_MIN_MEMBERS)",
        )
        parser.add_argument("--ids", help="comma-separated MAL ids to (re)fetch instead of walking the list")
        parser.add_argument("--stale-days", type=int, help="refresh only anime fetched more than N days ago (or never)")
        parser.add_argument(
            "--no-throttle",
            action="store_true",
            help="no delays and short retry backoff: ONLY for local test servers and benchmarks",
        )
        parser.add_argument("--progress-interval", type=float, default=5.0, help="seconds between progress lines")

    def handle(self, *args: Any, **options: Any) -> None:
        spider_name = options["spider"]
        if spider_name not in SPIDERS:
            raise CommandError(f"unknown spider {spider_name!r}: choose one of {', '.join(SPIDERS)}")
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be >= 1")
        if options["min_members"] < 0:
            raise CommandError("--min-members must be >= 0")
        stale_days = options["stale_days"]
        if stale_days is not None and stale_days < 0:
            raise CommandError("--stale-days must be >= 0")
        if options["progress_interval"] < 0:
            raise CommandError("--progress-interval must be >= 0")
        ids = _ids(options["ids"]) if options["ids"] is not None else []

        base_url = settings.JIKAN_BASE_URL if spider_name == "jikan" else settings.MAL_BASE_URL
        if not settings.CRAWLER_CONTACT and urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            self.stderr.write(
                self.style.WARNING(
                    "CRAWLER_CONTACT is not set: the User-Agent names no contact. Set it to an email or URL "
                    "so the source can reach you about this crawler's traffic."
                )
            )
        lock = CrawlLock(spider_name)
        if not lock.acquire():
            raise CommandError(f"another {spider_name} crawl is running (lock {lock.path}); try again later")
        try:
            skip_ids = stale_skip_ids(days=stale_days) if stale_days is not None else set()
            stats = self.run_spider(
                spider_name,
                spider_kwargs={
                    "limit": limit,
                    "min_members": options["min_members"],
                    "ids": ids,
                    "skip_ids": sorted(skip_ids),
                },
                no_throttle=options["no_throttle"],
                progress_interval=options["progress_interval"],
                verbosity=options["verbosity"],
            )
        finally:
            lock.release()
        self.summarise(stats)
        # New and changed anime may be upcoming ones: their predictions are made again.
        upcoming_refresh_dispatch()

    def run_spider(
        self,
        name: str,
        *,
        spider_kwargs: dict[str, Any],
        no_throttle: bool,
        progress_interval: float,
        verbosity: int,
    ) -> dict[str, Any]:
        # Imported here: crawler.settings sets Django up and Scrapy installs its reactor.
        from scrapy.crawler import CrawlerProcess
        from scrapy.settings import Settings

        scrapy_settings = Settings()
        scrapy_settings.setmodule("crawler.settings", priority="project")
        scrapy_settings.set("CRAWL_PROGRESS_INTERVAL", progress_interval, priority="cmdline")
        if no_throttle:
            # Above the spiders' custom_settings ("spider" priority).
            for key, value in {
                "DOWNLOAD_DELAY": 0,
                "DOWNLOAD_DELAY_JITTER": 0,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
                "CONCURRENT_REQUESTS": 16,
                "RETRY_BACKOFF_BASE": 0.05,
            }.items():
                scrapy_settings.set(key, value, priority="cmdline")
        scrapy_settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
        # Django's LOGGING sends INFO to the console; the crawl's own voice is the progress lines
        # and the summary, so Scrapy's chatter shows only with -v 2 (warnings always do).
        level = logging.DEBUG if verbosity > 2 else logging.INFO if verbosity > 1 else logging.WARNING
        scrapy_settings.set("LOG_LEVEL", logging.getLevelName(level), priority="cmdline")
        quiet = ("scrapy", "crawler", "protego", "asyncio", "twisted")
        for logger_name in quiet:
            logging.getLogger(logger_name).setLevel(level)
        if verbosity <= 1:
            logging.disable(logging.INFO)  # Scrapy's start-up banner
        try:
            process = CrawlerProcess(scrapy_settings)
        finally:
            logging.disable(logging.NOTSET)
        for logger_name in quiet:  # CrawlerProcess resets Scrapy's loggers to DEBUG
            logging.getLogger(logger_name).setLevel(level)
        crawler = process.create_crawler(name)
        process.crawl(crawler, **spider_kwargs)
        started = time.monotonic()
        process.start()
        assert crawler.stats is not None
        stats = dict(crawler.stats.get_stats())
        stats.setdefault("crawl/elapsed", time.monotonic() - started)
        return stats

    def summarise(self, stats: dict[str, Any]) -> None:
        out = self.stdout
        created = stats.get("crawl/created", 0)
        updated = stats.get("crawl/updated", 0)
        unchanged = stats.get("crawl/unchanged", 0)
        skipped = skipped_by_reason(stats)
        elapsed = max(stats.get("crawl/elapsed", 0.0), 1e-9)
        pages = stats.get("response_received_count", 0)
        items = created + updated + unchanged
        out.write(
            f"Crawled {pages:,} pages, {items:,} anime in {elapsed:.1f}s "
            f"({pages / elapsed:.1f} pages/s, {items / elapsed:.1f} items/s); "
            f"retries {stats.get('crawl/retries', 0):,}; finish reason: {stats.get('finish_reason', '?')}"
        )
        out.write(
            self.style.SUCCESS(
                f"created {created:,}, updated {updated:,}, unchanged {unchanged:,}, skipped {sum(skipped.values()):,}"
            )
        )
        for reason, count in sorted(skipped.items()):
            out.write(f"  skipped ({reason}): {count:,}")
        requested = stats.get("crawl/relations/requested", 0)
        if requested:
            out.write(
                f"Relations: asked for {requested:,} anime, read {stats.get('crawl/relations/read', 0):,}, "
                f"changed {stats.get('crawl/relations/changed', 0):,}"
            )
        if "crawl/franchises_changed" in stats:
            out.write(f"Franchise keys: {stats['crawl/franchises_changed']:,} changed")
        if created or updated:
            thresholds, tiers_changed = tier_thresholds_recompute()
            if thresholds is not None:
                out.write(f"Tier thresholds: {thresholds} ({tiers_changed:,} anime changed tier)")
                dist = tier_distribution()
                total = sum(dist.values()) or 1
                out.write(
                    "Tiers: "
                    + ", ".join(
                        f"{name or 'none'} {count:,} ({count / total:.0%})" for name, count in sorted(dist.items())
                    )
                )
