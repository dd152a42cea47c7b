"""Spider-level behaviour on the recorded Jikan responses, the retry timing, the pipeline's
validation and its hand-off to search indexing, and the weekly task."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from scrapy import Request
from scrapy.exceptions import DropItem
from scrapy.http import Response, TextResponse
from scrapy.utils.test import get_crawler

from catalog.models import Anime
from crawler.items import JikanAnimeItem, MalAnimeItem
from crawler.middlewares import BackoffRetryMiddleware, retry_after_seconds
from crawler.pipelines import CataloguePipeline
from crawler.spiders.jikan import JikanSpider


def jikan_spider(**kwargs):
    crawler = get_crawler(JikanSpider, {"JIKAN_BASE_URL": "http://jikan.test/v4"})
    spider = JikanSpider.from_crawler(crawler, **kwargs)
    crawler.spider = spider
    crawler.stats.open_spider()
    return spider, crawler.stats


def json_response(shared_fixtures: Path, name: str, url: str, status: int = 200) -> TextResponse:
    return TextResponse(url=url, body=(shared_fixtures / "jikan" / name).read_bytes(), status=status)


def test_it_yields_the_list_entries_above_the_threshold_and_asks_for_the_next_page(shared_fixtures):
    spider, stats = jikan_spider(min_members=100_000)
    out = list(
        spider.parse_list(
            json_response(
                shared_fixtures, "top-anime-tv-page-1.json", "http://jikan.test/v4/top/anime?filter=bypopularity&page=1"
            ),
            page=1,
        )
    )
    items = [o for o in out if isinstance(o, JikanAnimeItem)]
    requests = [o for o in out if isinstance(o, Request)]
    assert len(items) == 24 and 40682 not in {i.data["mal_id"] for i in items}
    assert items[0].data["title"] == "Fullmetal Alchemist: Brotherhood"
    assert [r.url for r in requests] == ["http://jikan.test/v4/top/anime?filter=bypopularity&page=2"]
    assert stats.get_value("crawl/skipped/members < 100,000") == 1


def test_it_stops_at_the_limit_and_leaves_fresh_ids_alone(shared_fixtures):
    spider, stats = jikan_spider(limit=5, skip_ids="5114,41467")
    out = list(
        spider.parse_list(
            json_response(
                shared_fixtures, "top-anime-tv-page-1.json", "http://jikan.test/v4/top/anime?filter=bypopularity&page=1"
            ),
            page=1,
        )
    )
    assert [o.data["mal_id"] for o in out] == [43608, 9253, 28977, 38524, 9969]  # no next page either
    assert stats.get_value("crawl/skipped/fresh") == 2


def test_it_gives_up_on_404_with_a_logged_reason(caplog):
    spider, stats = jikan_spider(ids="999999")
    response = TextResponse(
        url="http://jikan.test/v4/anime/999999/full",
        status=404,
        body=b'{"status": 404, "message": "Resource does not exist"}',
    )
    assert list(spider.parse_anime(response)) == []
    assert stats.get_value("crawl/skipped/not found (404)") == 1
    assert "gave up on http://jikan.test/v4/anime/999999/full: 404 not found" in caplog.text


def test_it_reads_one_anime_from_its_full_endpoint(shared_fixtures):
    spider, _ = jikan_spider()
    (item,) = spider.parse_anime(
        json_response(shared_fixtures, "anime-52991-full.json", "http://jikan.test/v4/anime/52991/full")
    )
    assert (item.data["mal_id"], item.data["title"], item.data["score"]) == (52991, "Sousou no Frieren", 9.27)


def test_it_reads_retry_after_as_seconds_or_a_date():
    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds(b"soon") is None and retry_after_seconds(None) is None


def test_it_backs_off_exponentially_and_honours_retry_after():
    crawler = get_crawler(JikanSpider, {"RETRY_BACKOFF_BASE": 2.0, "RETRY_BACKOFF_MAX": 60.0})
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    request = Request("http://jikan.test/v4/anime/1/full")
    assert middleware.delay_for(request, Response(request.url, status=503)) == 2.0
    request.meta["retry_times"] = 2
    assert middleware.delay_for(request, Response(request.url, status=503)) == 8.0
    assert middleware.delay_for(request, Response(request.url, status=429, headers={"Retry-After": "30"})) == 30.0
    assert middleware.delay_for(request, Response(request.url, status=429, headers={"Retry-After": "600"})) == 60.0


def make_pipeline() -> CataloguePipeline:
    return CataloguePipeline.from_crawler(get_crawler(JikanSpider))


# async_to_sync: the pipeline's thread-sensitive ORM calls then run in this test's thread, inside
# its transaction, as they run in one worker thread during a crawl.


def test_it_drops_an_item_without_id_or_title_with_its_reason(catalog, caplog):
    pipeline = make_pipeline()
    before = Anime.objects.count()
    with pytest.raises(DropItem, match="missing title"):
        async_to_sync(pipeline.process_item)(MalAnimeItem(url="https://myanimelist.net/anime/77", mal_id=77))
    with pytest.raises(DropItem, match="missing id"):
        async_to_sync(pipeline.process_item)(JikanAnimeItem(data={"title": "No Id"}))
    assert pipeline.stats.get_value("crawl/skipped/missing title") == 1
    assert pipeline.stats.get_value("crawl/skipped/missing id") == 1
    assert "dropped https://myanimelist.net/anime/77: missing title" in caplog.text
    assert Anime.objects.count() == before


def test_it_stores_items_and_hands_created_or_changed_anime_to_search(catalog, shared_fixtures, monkeypatch):
    queued: list[list[int]] = []
    monkeypatch.setattr("crawler.pipelines.index_on_commit", lambda ids: queued.append(list(ids)))
    data = {**json.loads((shared_fixtures / "jikan" / "anime-457.json").read_text())["data"], "mal_id": 990457}

    async def crawl_twice() -> None:
        pipeline = make_pipeline()
        await pipeline.open_spider()
        await pipeline.process_item(JikanAnimeItem(data=data))
        await pipeline.process_item(JikanAnimeItem(data={**data, "members": 800_000}))  # members: indexed
        await pipeline.process_item(JikanAnimeItem(data={**data, "members": 800_000, "favorites": 1}))  # not indexed
        await pipeline.process_item(JikanAnimeItem(data={**data, "members": 800_000, "favorites": 1}))  # unchanged
        await pipeline.close_spider()
        assert pipeline.stats.get_value("crawl/created") == 1
        assert pipeline.stats.get_value("crawl/updated") == 2
        assert pipeline.stats.get_value("crawl/unchanged") == 1

    async_to_sync(crawl_twice)()
    assert queued == [[990457, 990457]]
    mushishi = Anime.objects.get(mal_id=990457)
    assert (mushishi.members, mushishi.favorites, mushishi.provenance) == (800_000, 1, "jikan")


def test_it_runs_the_weekly_crawl_as_a_subprocess_and_only_one_at_a_time(settings, tmp_path, monkeypatch):
    from crawler.services import CrawlLock
    from crawler.tasks import crawl_refresh

    settings.VAR_DIR = tmp_path
    calls: list[list[str]] = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(
            command, 0, stdout="created 1, updated 0, unchanged 3, skipped 0\n", stderr=""
        )

    monkeypatch.setattr("crawler.tasks.subprocess.run", fake_run)
    result = crawl_refresh.apply(kwargs={"spider": "jikan", "stale_days": 7}).get()
    assert result == {"spider": "jikan", "status": "done", "summary": ["created 1, updated 0, unchanged 3, skipped 0"]}
    assert calls[0][1:] == [
        str(Path(settings.BASE_DIR) / "manage.py"),
        "crawl",
        "jikan",
        "--progress-interval",
        "60",
        "--stale-days",
        "7",
    ]

    running = CrawlLock("jikan")
    assert running.acquire()
    try:
        skipped = crawl_refresh.apply(kwargs={"spider": "jikan", "stale_days": 7}).get()
    finally:
        running.release()
    assert skipped == {"spider": "jikan", "status": "skipped", "reason": "already running"}
    assert len(calls) == 1


def test_it_schedules_the_weekly_crawl_in_celery_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["crawl-jikan-weekly"]
    assert entry["task"] == "crawler.tasks.crawl_refresh"
    assert entry["kwargs"] == {"spider": "jikan", "stale_days": 7}
    # Celery's autodiscovery looks for tasks.py in the installed apps.
    assert "crawler" in settings.INSTALLED_APPS
    from animesite.celery import app
    from crawler.tasks import crawl_refresh

    assert app.tasks[entry["task"]].name == crawl_refresh.name


def test_it_holds_every_request_to_the_host_after_a_429():
    from types import SimpleNamespace

    crawler = get_crawler(JikanSpider)
    slot = SimpleNamespace(lastseen=0.0, download_delay=lambda: 1.05)
    crawler.engine = SimpleNamespace(
        downloader=SimpleNamespace(slots={"jikan.test": slot}, get_slot_key=lambda request: "jikan.test")
    )
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    before = time.monotonic()
    middleware.pause_slot(Request("http://jikan.test/v4/anime/1/full"), 30.0)
    # The downloader sends the slot's next request at lastseen + its delay: 30 s from now.
    assert before + 30.0 <= slot.lastseen + slot.download_delay() <= time.monotonic() + 30.0
