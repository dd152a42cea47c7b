"""Live progress of a crawl on stderr: pages, items, items/s, relations read, skipped by reason, ETA."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from scrapy import signals
from scrapy.crawler import Crawler
from twisted.internet import task

SKIPPED_PREFIX = "crawl/skipped/"


def skipped_by_reason(stats: dict[str, Any]) -> dict[str, int]:
    reasons = {key[len(SKIPPED_PREFIX) :]: value for key, value in stats.items() if key.startswith(SKIPPED_PREFIX)}
    forbidden = stats.get("robotstxt/forbidden", 0)
    if forbidden:
        reasons["forbidden by robots.txt"] = forbidden
    return reasons


def progress_line(stats: dict[str, Any], elapsed: float) -> str:
    pages = stats.get("response_received_count", 0)
    stored = sum(stats.get(f"crawl/{status}", 0) for status in ("created", "updated", "unchanged"))
    skipped = skipped_by_reason(stats)
    rate = stored / elapsed if elapsed > 0 else 0.0
    parts = [
        f"pages {pages:,}",
        f"items {stored:,} ({rate:.1f}/s)",
        f"created {stats.get('crawl/created', 0):,} updated {stats.get('crawl/updated', 0):,} "
        f"unchanged {stats.get('crawl/unchanged', 0):,}",
    ]
    requested = stats.get("crawl/relations/requested", 0)
    if requested:
        parts.append(f"relations {stats.get('crawl/relations/read', 0):,}/{requested:,}")
    if skipped:
        parts.append("skipped " + ", ".join(f"{reason} {count:,}" for reason, count in sorted(skipped.items())))
    expected = stats.get("crawl/expected")
    if expected and rate > 0:
        done = stored + sum(skipped.values())
        remaining = max(0, expected - done)
        parts.append(f"ETA {remaining / rate:.0f}s ({done:,}/{expected:,})")
    return f"[{elapsed:6.1f}s] " + " | ".join(parts)


class CrawlProgress:
    def __init__(self, crawler: Crawler, interval: float, out: TextIO) -> None:
        self.crawler = crawler
        self.interval = interval
        self.out = out
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        ext = cls(crawler, crawler.settings.getfloat("CRAWL_PROGRESS_INTERVAL", 5.0), sys.stderr)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def report(self) -> None:
        assert self.crawler.stats is not None
        self.out.write(progress_line(self.crawler.stats.get_stats(), self.elapsed()) + "\n")
        self.out.flush()

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        if self.interval > 0:
            self.loop = task.LoopingCall(self.report)
            self.loop.start(self.interval, now=False)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("crawl/elapsed", self.elapsed())
