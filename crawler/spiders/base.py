"""What both spiders share: their arguments (limit, threshold, ids, ids to leave alone) and
how they count and log what they skip."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import scrapy
from scrapy.http import Response

logger = logging.getLogger(__name__)


def _ints(value: Any) -> list[int]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [int(part) for part in value.split(",") if part.strip()]
    return [int(part) for part in value]


def polite_settings(*, delay: float, jitter: float, robots_txt: bool, **extra: Any) -> dict[str, Any]:
    """A spider's politeness: one request at a time to the source, ``delay`` seconds apart
    (randomised by +/- ``jitter`` of it), robots.txt obeyed or not; plus its own settings."""
    return {
        "DOWNLOAD_DELAY": delay,
        "DOWNLOAD_DELAY_JITTER": jitter,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "ROBOTSTXT_OBEY": robots_txt,
        **extra,
    }


class CatalogueSpider(scrapy.Spider):
    base_setting = ""

    def __init__(
        self,
        *args: Any,
        limit: int | str | None = None,
        min_members: int | str = 0,  # 0: the whole catalogue
        ids: Iterable[int] | str | None = None,
        skip_ids: Iterable[int] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.limit = int(limit) if limit not in (None, "") else None
        self.min_members = int(min_members)
        self.ids = _ints(ids)
        # Records fetched recently enough (--stale-days): not requested, or not stored again.
        self.skip_ids = set(_ints(skip_ids))
        self.wanted = 0  # detail requests made / list items yielded, compared with --limit

    @property
    def base_url(self) -> str:
        return self.settings.get(self.base_setting).rstrip("/")

    def limit_reached(self) -> bool:
        return self.limit is not None and self.wanted >= self.limit

    def skip(self, reason: str, detail: str = "") -> None:
        self.crawler.stats.inc_value(f"crawl/skipped/{reason}")
        logger.info("skipped %s%s", reason, f": {detail}" if detail else "")

    def expect(self, count: int) -> None:
        """How many records this crawl will handle, when known (for the ETA)."""
        self.crawler.stats.set_value("crawl/expected", count)

    def below_threshold(self, mal_id: Any, members: int | None) -> bool:
        if members is not None and members < self.min_members:
            self.skip(f"members < {self.min_members:,}", f"MAL id {mal_id} has {members:,}")
            return True
        return False

    def gave_up(self, response: Response, *, what: str = "") -> bool:
        """404 (and errors left after the retries): log why and move on. ``what`` names what
        was missing when it is not the anime itself ("relations")."""
        prefix = f"{what} " if what else ""
        if response.status == 404:
            self.skip(f"{prefix}not found (404)", response.url)
            logger.warning("gave up on %s: 404 not found", response.url)
            return True
        if response.status >= 400:
            self.skip(f"{prefix}HTTP {response.status}", response.url)
            logger.warning("gave up on %s: HTTP %s after retries", response.url, response.status)
            return True
        return False
