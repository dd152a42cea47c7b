"""Spider-level behaviour on the recorded Jikan responses, the retry timing, the pipeline's
validation and its hand-off to search indexing, and the weekly task."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from scrapy import Request
from scrapy.exceptions import DropItem
from scrapy.http import Response, TextResponse
from scrapy.utils.test import get_crawler

from catalog.models import Anime
from crawler.extensions import progress_line
from crawler.items import JikanAnimeItem, JikanListPage, JikanRelationsItem, MalAnimeItem
from crawler.middlewares import BackoffRetryMiddleware, retry_after_seconds
from crawler.pipelines import CataloguePipeline
from crawler.spiders.jikan import JikanSpider
from crawler.tests.fakesource import ADULT_ID, MUSIC_ID, FakeSources


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
    # One item for the page (stored in one go), holding the entries that meet the threshold.
    (page,) = [o for o in out if isinstance(o, JikanListPage)]
    requests = [o for o in out if isinstance(o, Request)]
    assert len(page.entries) == 24 and 40682 not in {e["mal_id"] for e in page.entries}
    assert page.entries[0]["title"] == "Fullmetal Alchemist: Brotherhood"
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
    (page,) = out  # no next page either
    assert [e["mal_id"] for e in page.entries] == [43608, 9253, 28977, 38524, 9969]
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
    # The whole catalogue every week: every list page, no --stale-days (a list page brings all
    # its anime anyway; unchanged ones are not rewritten, relations are read only when needed).
    assert entry["kwargs"] == {"spider": "jikan", "stale_days": None}
    # Celery's autodiscovery looks for tasks.py in the installed apps.
    assert "crawler" in settings.INSTALLED_APPS
    from animesite.celery import app
    from crawler.tasks import crawl_refresh

    assert app.tasks[entry["task"]].name == crawl_refresh.name


def test_it_holds_every_request_to_the_host_after_a_429():
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


# --------------------------------------------------------------------------- the whole catalogue


def catalogue_response(shared_fixtures: Path, page: int) -> TextResponse:
    url = f"http://jikan.test/v4/anime?page={page}&order_by=mal_id&sort=asc"
    body = json.dumps(FakeSources(shared_fixtures).catalogue_page(page)).encode()
    return TextResponse(url=url, body=body)


def test_it_walks_the_whole_catalogue_in_mal_id_order_to_the_last_page(shared_fixtures):
    spider, stats = jikan_spider()  # no threshold: the whole catalogue
    first = list(spider.parse_list(catalogue_response(shared_fixtures, 1), page=1))
    (page,) = [o for o in first if isinstance(o, JikanListPage)]
    assert [e["mal_id"] for e in page.entries][:5] == [1, 19, 20, 21, 33] and len(page.entries) == 25
    assert [r.url for r in first if isinstance(r, Request)] == [
        "http://jikan.test/v4/anime?page=2&order_by=mal_id&sort=asc"
    ]
    assert stats.get_value("crawl/expected") == 70  # pagination.items.total, for the ETA

    last = list(spider.parse_list(catalogue_response(shared_fixtures, 3), page=3))
    (page,) = last  # has_next_page false: the end, no request
    assert [e["mal_id"] for e in page.entries][-3:] == [59978, MUSIC_ID, ADULT_ID]


def test_it_reads_an_anime_s_relations_and_gives_up_on_their_404(shared_fixtures, caplog):
    spider, stats = jikan_spider()
    request = spider.relations_request(52991)
    assert (request.url, request.cb_kwargs, request.priority) == (
        "http://jikan.test/v4/anime/52991/relations",
        {"mal_id": 52991},
        1,  # before the next list page
    )
    groups = json.loads((shared_fixtures / "jikan" / "anime-52991-full.json").read_text())["data"]["relations"]
    answer = TextResponse(url=request.url, body=json.dumps({"data": groups}).encode())
    (item,) = spider.parse_relations(answer, mal_id=52991)
    assert (item.mal_id, item.groups) == (52991, groups)

    missing = TextResponse(url="http://jikan.test/v4/anime/7/relations", status=404, body=b'{"status": 404}')
    assert list(spider.parse_relations(missing, mal_id=7)) == []
    assert stats.get_value("crawl/skipped/relations not found (404)") == 1
    assert "gave up on http://jikan.test/v4/anime/7/relations: 404 not found" in caplog.text


def relations_pipeline() -> tuple[CataloguePipeline, list[str]]:
    """A pipeline in a Jikan crawl whose engine records the requests it is given."""
    crawler = get_crawler(JikanSpider, {"JIKAN_BASE_URL": "http://jikan.test/v4"})
    crawler.spider = JikanSpider.from_crawler(crawler)
    asked: list[str] = []
    crawler.engine = SimpleNamespace(crawl=lambda request: asked.append(request.url))
    return CataloguePipeline.from_crawler(crawler), asked


def mushishi_as(shared_fixtures: Path, mal_id: int, title: str, **changes) -> dict:
    data = json.loads((shared_fixtures / "jikan" / "anime-457.json").read_text())["data"]
    return {**data, "mal_id": mal_id, "title": title, **changes}


def test_it_asks_for_the_relations_of_new_changed_and_never_read_anime_only(catalog, shared_fixtures):
    a = mushishi_as(shared_fixtures, 990001, "Relations Test A")
    b = mushishi_as(shared_fixtures, 990002, "Relations Test B")
    c = mushishi_as(shared_fixtures, 990003, "Relations Test C")
    groups = json.loads((shared_fixtures / "jikan" / "anime-52991-full.json").read_text())["data"]["relations"]
    url = "http://jikan.test/v4/anime?page=1&order_by=mal_id&sort=asc"

    async def crawl() -> tuple[list[str], list[str], dict]:
        pipeline, asked = relations_pipeline()
        await pipeline.open_spider()
        await pipeline.process_item(JikanListPage(entries=[a, b, c], url=url))
        first = list(asked)
        asked.clear()
        # a's and b's relations are read (b has none); c's never come.
        await pipeline.process_item(JikanRelationsItem(mal_id=990001, groups=groups))
        await pipeline.process_item(JikanRelationsItem(mal_id=990002, groups=[]))
        await pipeline.flush()
        # Later: a's member count moved, b started airing, c is as it was.
        later = [{**a, "members": a["members"] + 5}, {**b, "status": "Currently Airing"}, c]
        await pipeline.process_item(JikanListPage(entries=later, url=url))
        await pipeline.close_spider()
        return first, asked, pipeline.stats.get_stats()

    first, second, stats = async_to_sync(crawl)()
    relations_url = "http://jikan.test/v4/anime/{}/relations".format
    assert first == [relations_url(990001), relations_url(990002), relations_url(990003)]  # all new
    assert second == [relations_url(990002), relations_url(990003)]  # b changed, c never read
    assert (stats["crawl/created"], stats["crawl/updated"], stats["crawl/unchanged"]) == (3, 2, 1)
    assert (stats["crawl/relations/requested"], stats["crawl/relations/read"]) == (5, 2)
    assert stats["crawl/relations/changed"] == 1  # a's; b's "none" is what was stored already
    stored = Anime.objects.in_bulk([990001, 990002, 990003])
    assert set(stored[990001].relations.values_list("related_mal_id", "relation")) == {
        (59978, "sequel"),
        (56885, "side_story"),
        (56805, "other"),
        (58313, "other"),
    }  # the manga adaptation is not an anime link
    assert stored[990001].relations_checked_at is not None and stored[990002].relations_checked_at is not None
    assert not stored[990002].relations.exists()
    assert stored[990003].relations_checked_at is None


def test_it_stores_relations_alone_leaving_the_anime_s_fields_and_date_alone(catalog, shared_fixtures):
    entry = mushishi_as(shared_fixtures, 990004, "Relations Only")
    url = "http://jikan.test/v4/anime?page=1&order_by=mal_id&sort=asc"
    sequel = [{"relation": "Sequel", "entry": [{"mal_id": 990005, "type": "anime", "name": "Relations Only 2"}]}]
    before: dict = {}
    keys: list[str] = []

    async def crawl() -> dict:
        pipeline, _ = relations_pipeline()
        await pipeline.open_spider()
        await pipeline.process_item(JikanListPage(entries=[entry], url=url))
        before.update(await sync_to_async(snapshot)(990004))
        keys.append(await sync_to_async(lambda: Anime.objects.get(mal_id=990004).franchise_key)())
        await pipeline.process_item(JikanRelationsItem(mal_id=990004, groups=sequel))
        await pipeline.process_item(JikanRelationsItem(mal_id=990099, groups=sequel))  # not in the catalogue
        await pipeline.close_spider()
        return pipeline.stats.get_stats()

    stats = async_to_sync(crawl)()
    anime = Anime.objects.get(mal_id=990004)
    assert snapshot(990004) == before  # title, counts, synopsis, genres, provenance, fetched_at
    assert before["title"] == "Relations Only" and before["members"] == entry["members"]
    assert list(anime.relations.values_list("related_mal_id", "relation")) == [(990005, "sequel")]
    assert anime.relations_checked_at is not None and anime.relations_checked_at >= anime.fetched_at
    assert not Anime.objects.filter(mal_id=990099).exists()
    assert stats["crawl/skipped/relations of an anime not stored"] == 1
    # At the end of the crawl its franchise key comes from the relation graph, no longer the title.
    assert (keys[0], anime.franchise_key) == ("relations-only", "relations-only-990004")


def snapshot(mal_id: int) -> dict:
    anime = Anime.objects.get(mal_id=mal_id)
    fields = ("title", "type", "status", "members", "score", "synopsis", "provenance", "fetched_at")
    return {
        **{name: getattr(anime, name) for name in fields},
        "genres": sorted(anime.genres.values_list("name", flat=True)),
    }


def test_it_leaves_out_music_videos_and_adult_titles_with_their_reasons(catalog, shared_fixtures):
    music = mushishi_as(shared_fixtures, 990006, "A Music Video", type="Music")
    adult = mushishi_as(shared_fixtures, 990007, "An Adult Title", rating="Rx - Hentai")
    pipeline = make_pipeline()
    with pytest.raises(DropItem, match="type Music"):
        async_to_sync(pipeline.process_item)(JikanAnimeItem(data=music))
    with pytest.raises(DropItem, match="adult"):
        async_to_sync(pipeline.process_item)(JikanAnimeItem(data=adult))
    assert pipeline.stats.get_value("crawl/skipped/type Music") == 1
    assert pipeline.stats.get_value("crawl/skipped/adult") == 1
    assert not Anime.objects.filter(mal_id__in=[990006, 990007]).exists()


def test_it_shows_relations_read_in_the_progress_line():
    stats = {
        "response_received_count": 40,
        "crawl/created": 25,
        "crawl/relations/requested": 25,
        "crawl/relations/read": 12,
        "crawl/skipped/type Music": 1,
        "crawl/expected": 100,
    }
    assert progress_line(stats, 10.0) == (
        "[  10.0s] pages 40 | items 25 (2.5/s) | created 25 updated 0 unchanged 0 | relations 12/25 "
        "| skipped type Music 1 | ETA 30s (26/100)"
    )
