"""Downloader middleware: retries 429 and 5xx with exponential backoff, honouring Retry-After.

Scrapy's own RetryMiddleware re-queues at once; Jikan answers a burst with 429 and a
Retry-After header, so retrying immediately would only burn the quota again.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.http import Response
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, *, now: float | None = None) -> float | None:
    """Read a Retry-After header: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware (which still retries network errors at once) with a wait before
    each retried 429/5xx response."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        middleware.backoff_base = crawler.settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        middleware.backoff_max = crawler.settings.getfloat("RETRY_BACKOFF_MAX", 120.0)
        return middleware

    def delay_for(self, request: Request, response: Response) -> float:
        attempt = request.meta.get("retry_times", 0)
        backoff = self.backoff_base * (2**attempt)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(backoff, self.backoff_max)

    def pause_slot(self, request: Request, delay: float) -> None:
        """A 429 concerns every request to that host, not just this one: hold the whole
        download slot for ``delay`` (the downloader waits until lastseen + its own delay)."""
        downloader = getattr(self.crawler.engine, "downloader", None)
        if downloader is None:
            return
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is not None and slot.download_delay() > 0:
            slot.lastseen = max(slot.lastseen, time.monotonic() + delay - slot.download_delay())

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
        )
        if retry is None:
            # Retries exhausted: the spider sees the error response and gives up with a reason.
            return response
        delay = self.delay_for(request, response)
        logger.info("%s on %s: retrying in %.1fs", reason, request.url, delay)
        self.crawler.stats.inc_value("crawl/retries")
        if response.status == 429:
            self.pause_slot(request, delay)
        if delay > 0:
            await asyncio.sleep(delay)
        return retry
