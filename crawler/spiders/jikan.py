"""Jikan v4 (``JIKAN_BASE_URL``), three ways in:

- the whole catalogue (no members threshold, the default): every page of ``/anime`` in MAL id
  order, to the last one;
- with a threshold: the by-popularity list (``/top/anime``), stopping at the first page where
  nobody meets it;
- given ids: ``/anime/{id}/full``, relations included.

List pages carry no relations: once a page is stored, the pipeline asks ``relations_request``
for the anime that are new, changed in what relations hang on, or never had them read
(``/anime/{id}/relations``, small). Within Jikan's published limits (3 requests/s, 60/min):
one request at a time, a fixed ~1.05 s apart, relations and list pages alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawler.items import JikanAnimeItem, JikanListPage, JikanRelationsItem
from crawler.spiders.base import CatalogueSpider, polite_settings

# 60/min is the binding limit: 1.05 s apart gives ~57/min and < 1/s.
JIKAN_DELAY = 1.05
# Relations of a stored page go before the next list page, so a page is finished (and its
# relations stored) before the walk moves on, and the queue stays at about one page.
RELATIONS_PRIORITY = 1


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

    @property
    def whole_catalogue(self) -> bool:
        return self.min_members <= 0

    def list_url(self, page: int) -> str:
        if self.whole_catalogue:
            return f"{self.base_url}/anime?page={page}&order_by=mal_id&sort=asc"
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

    def relations_request(self, mal_id: int) -> scrapy.Request:
        """The request for one anime's relations (the pipeline calls this after storing a page)."""
        return scrapy.Request(
            f"{self.base_url}/anime/{mal_id}/relations",
            callback=self.parse_relations,
            cb_kwargs={"mal_id": mal_id},
            priority=RELATIONS_PRIORITY,
        )

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
        pagination = payload.get("pagination") or {}
        total = (pagination.get("items") or {}).get("total") if isinstance(pagination, dict) else None
        if page == 1 and self.whole_catalogue and self.limit is None and isinstance(total, int):
            self.expect(total)
        entries: list[dict[str, Any]] = []
        reached = False  # does any entry on this page meet the threshold?
        for entry in payload.get("data") or []:
            if not isinstance(entry, dict):
                self.skip("bad response", f"{response.url}: an entry is not an object")
                continue
            if self.limit_reached():
                break
            members = entry.get("members")
            if self.below_threshold(entry.get("mal_id"), members if isinstance(members, int) else None):
                continue
            reached = True
            if entry.get("mal_id") in self.skip_ids:
                self.skip("fresh", f"MAL id {entry.get('mal_id')}")
                continue
            self.wanted += 1
            entries.append(entry)
        if entries:
            yield JikanListPage(entries=entries, url=response.url)
        # By popularity, members only go down: a page where nobody meets the threshold is the end.
        # (Not the first entry under it: the list's order and its member counts are snapshots
        # taken at slightly different times, so neighbours can be out of order.) In MAL id order
        # the walk goes on to the last page.
        go_on = self.whole_catalogue or reached
        if go_on and not self.limit_reached() and isinstance(pagination, dict) and pagination.get("has_next_page"):
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

    def parse_relations(self, response: Response, mal_id: int) -> Iterator[Any]:
        if self.gave_up(response, what="relations"):
            return
        payload = self._json(response)
        if payload is None:
            return
        groups = payload.get("data")
        if not isinstance(groups, list):
            self.skip("bad response", f"{response.url}: no list of relations")
            return
        yield JikanRelationsItem(mal_id=mal_id, groups=groups, url=response.url)
