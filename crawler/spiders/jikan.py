"""Jikan v4 (``JIKAN_BASE_URL``): the by-popularity list down to the members threshold, or
given ids through ``/anime/{id}/full``. Within Jikan's published limits (3 requests/s,
60/min): one request at a time, a fixed ~1.05 s apart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawler.items import JikanAnimeItem
from crawler.spiders.base import CatalogueSpider, polite_settings

# 60/min is the binding limit: 1.05 s apart gives ~57/min and < 1/s.
JIKAN_DELAY = 1.05


class JikanSpider(CatalogueSpider):
    name = "jikan"
    base_setting = "JIKAN_BASE_URL"
    handle_httpstatus_list = [404, 429, 500, 502, 503, 504]
    custom_settings = polite_settings(
        delay=JIKAN_DELAY,
        # No jitter: a ±50% jitter would make some gaps ~0.5 s, over 60/min in bursts.
        jitter=0,
        robots_txt=False,  # an API, not pages; its terms are the rate limits above
        DEFAULT_REQUEST_HEADERS={"Accept": "application/json"},
    )

    def list_url(self, page: int) -> str:
        return f"{self.base_url}/top/anime?filter=bypopularity&page={page}"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.ids:
            wanted = [mal_id for mal_id in self.ids if mal_id not in self.skip_ids]
            for mal_id in self.ids:
                if mal_id in self.skip_ids:
                    self.skip("fresh", f"MAL id {mal_id}")
            self.expect(len(self.ids))
            for mal_id in wanted:
                yield scrapy.Request(f"{self.base_url}/anime/{mal_id}/full", callback=self.parse_anime)
            return
        if self.limit is not None:
            self.expect(self.limit)
        yield scrapy.Request(self.list_url(1), callback=self.parse_list, cb_kwargs={"page": 1})

    def _json(self, response: Response) -> dict[str, Any] | None:
        try:
            payload = json.loads(response.body)
        except ValueError:
            self.skip("bad response", f"{response.url}: not JSON")
            return None
        if not isinstance(payload, dict):
            self.skip("bad response", f"{response.url}: not a JSON object")
            return None
        return payload

    def parse_list(self, response: Response, page: int) -> Iterator[Any]:
        if self.gave_up(response):
            return
        payload = self._json(response)
        if payload is None:
            return
        entries = payload.get("data") or []
        reached = False  # does any entry on this page meet the threshold?
        for entry in entries:
            if not isinstance(entry, dict):
                self.skip("bad response", f"{response.url}: an entry is not an object")
                continue
            if self.limit_reached():
                return
            members = entry.get("members")
            if self.below_threshold(entry.get("mal_id"), members if isinstance(members, int) else None):
                continue
            reached = True
            if entry.get("mal_id") in self.skip_ids:
                self.skip("fresh", f"MAL id {entry.get('mal_id')}")
                continue
            self.wanted += 1
            yield JikanAnimeItem(data=entry, url=response.url)
        pagination = payload.get("pagination") or {}
        # By popularity, members only go down: a page where nobody meets the threshold is the end.
        # (Not the first entry under it: the list's order and its member counts are snapshots
        # taken at slightly different times, so neighbours can be out of order.)
        if reached and not self.limit_reached() and pagination.get("has_next_page"):
            yield scrapy.Request(self.list_url(page + 1), callback=self.parse_list, cb_kwargs={"page": page + 1})

    def parse_anime(self, response: Response) -> Iterator[Any]:
        if self.gave_up(response):
            return
        payload = self._json(response)
        if payload is None:
            return
        data = payload.get("data")
        if not isinstance(data, dict):
            self.skip("bad response", f"{response.url}: no data object")
            return
        yield JikanAnimeItem(data=data, url=response.url)
