"""The MyAnimeList spider's parsing, on the recorded pages (2022 and 2026 layouts, sub-pages)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from catalog.records import record_from_mal
from crawler.spiders.mal import MalSpider, parse_anime_page, parse_list_page


def page(shared_fixtures: Path, name: str, url: str) -> HtmlResponse:
    return HtmlResponse(url=url, body=(shared_fixtures / "mal" / name).read_bytes())


TRIGUN_COMMON = {
    "url": "https://myanimelist.net/anime/6/Trigun",
    "mal_id": 6,
    "title": "Trigun",
    "title_english": "Trigun",
    "title_japanese": "トライガン",
    "title_synonyms": [],
    "type": "TV",
    "episodes": "26",
    "status": "Finished Airing",
    "aired": "Apr 1, 1998 to Sep 30, 1998",
    "premiered": "Spring 1998",
    "studios": ["Madhouse"],
    "source": "Manga",
    "explicit_genres": [],
    "themes": ["Adult Cast"],
    "demographics": ["Shounen"],
    "duration": "24 min. per ep.",
    "rating": "PG-13 - Teens 13 or older",
    "score": "8.22",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "anime-6-trigun.html",
            {
                "genres": ["Action", "Adventure", "Sci-Fi"],
                "scored_by": "396690",
                "rank": "394",
                "popularity": "264",
                "members": "822,213",
                "favorites": "17,375",
                "image_url": "https://cdn.myanimelist.net/images/anime/1130/120002.jpg",
            },
        ),
        (
            "anime-6-trigun-2022.html",
            {
                "genres": ["Action", "Adventure", "Comedy", "Drama", "Sci-Fi"],
                "scored_by": "336220",
                "rank": "308",
                "popularity": "243",
                "members": "678,927",
                "favorites": "13,750",
                "image_url": "https://cdn.myanimelist.net/images/anime/7/20310.jpg",
            },
        ),
    ],
)
def test_it_reads_both_trigun_layouts(shared_fixtures, name, expected):
    item = asdict(parse_anime_page(page(shared_fixtures, name, "https://myanimelist.net/anime/6/Trigun")))
    synopsis, background = item.pop("synopsis"), item.pop("background")
    assert item == {**TRIGUN_COMMON, **expected}
    assert synopsis.startswith(
        "Vash the Stampede is the man with a $$60,000,000,000 bounty on his head. The reason: he's"
    )
    # <br> paragraphs become blank lines, as Jikan serves them.
    assert "avoids violence at all costs.\n\nWith his crazy doughnut obsession" in synopsis
    assert synopsis.endswith("\n\n[Written by MAL Rewrite]")
    assert background.startswith("The Japanese release by Victor Entertainment has different openings relating to")
    assert "Written by MAL Rewrite" not in background and "<" not in background


def test_it_normalises_a_trigun_page_like_jikan_does(shared_fixtures):
    item = parse_anime_page(page(shared_fixtures, "anime-6-trigun.html", "https://myanimelist.net/anime/6"))
    record = record_from_mal(asdict(item), fetched_at=dt.datetime(2026, 1, 17, tzinfo=dt.UTC))
    fields = {k: v for k, v in record.fields.items() if k not in ("synopsis", "background")}
    assert fields == {
        "title": "Trigun",
        "title_english": "Trigun",
        "title_japanese": "トライガン",
        "type": "TV",
        "episodes": 26,
        "status": "Finished Airing",
        "aired_from": dt.date(1998, 4, 1),
        "aired_to": dt.date(1998, 9, 30),
        "year": 1998,
        "season": "spring",
        "source": "Manga",
        "rating": "PG-13 - Teens 13 or older",
        "duration": "24 min per ep",
        "studios": ["Madhouse"],
        "score": 8.22,
        "scored_by": 396_690,
        "rank": 394,
        "popularity": 264,
        "members": 822_213,
        "members_as_of": dt.date(2026, 1, 17),  # the count is dated with the page's fetch
        "members_estimated": False,
        "favorites": 17_375,
        "image_url": "https://cdn.myanimelist.net/images/anime/1130/120002l.jpg",
        "mal_url": "https://myanimelist.net/anime/6/Trigun",
    }
    assert record.genres == [
        ("Action", "genre"),
        ("Adventure", "genre"),
        ("Sci-Fi", "genre"),
        ("Adult Cast", "theme"),
        ("Shounen", "demographic"),
    ]


@pytest.mark.parametrize(
    ("name", "url", "has_synopsis"),
    [
        ("anime-57181-ao-no-hako.html", "https://myanimelist.net/anime/57181/Ao_no_Hako", True),
        ("anime-57181-ao-no-hako-stats.html", "https://myanimelist.net/anime/57181/Ao_no_Hako/stats", False),
    ],
)
def test_it_reads_ao_no_hako_and_its_stats_sub_page(shared_fixtures, name, url, has_synopsis):
    item = parse_anime_page(page(shared_fixtures, name, url))
    assert (item.mal_id, item.url, item.title, item.title_english, item.title_japanese) == (
        57181,
        "https://myanimelist.net/anime/57181/Ao_no_Hako",
        "Ao no Hako",
        "Blue Box",
        "アオのハコ",
    )
    assert (item.type, item.episodes, item.status, item.aired, item.premiered) == (
        "TV",
        "25",
        "Currently Airing",
        "Oct 3, 2024 to ?",
        "Fall 2024",
    )
    assert (item.genres, item.themes, item.demographics) == (
        ["Romance", "Sports"],
        ["School", "Team Sports"],
        ["Shounen"],
    )
    assert (item.score, item.scored_by, item.rank, item.popularity, item.members, item.favorites) == (
        "8.40",
        "16830",
        "193",
        "1807",
        "128,442",
        "918",
    )
    assert item.studios == ["Telecom Animation Film"]
    assert bool(item.synopsis) is has_synopsis
    record = record_from_mal(asdict(item))
    assert (record.fields["aired_from"], record.fields.get("aired_to"), record.fields["season"]) == (
        dt.date(2024, 10, 3),
        None,
        "fall",
    )


def test_it_reads_the_sub_pages_sidebar_without_a_synopsis(shared_fixtures):
    bebop = parse_anime_page(
        page(shared_fixtures, "anime-1-cowboy-bebop-stats.html", "https://myanimelist.net/anime/1/Cowboy_Bebop/stats")
    )
    assert (bebop.mal_id, bebop.url, bebop.title, bebop.synopsis, bebop.background) == (
        1,
        "https://myanimelist.net/anime/1/Cowboy_Bebop",
        "Cowboy Bebop",
        "",
        "",
    )
    assert (bebop.score, bebop.scored_by, bebop.members, bebop.favorites, bebop.rank) == (
        "8.75",
        "1046024",
        "2,025,592",
        "88,578",
        "48",
    )
    assert (bebop.genres, bebop.themes, bebop.demographics) == (
        ["Action", "Award Winning", "Sci-Fi"],
        ["Adult Cast", "Space"],
        [],
    )
    one_piece = parse_anime_page(
        page(shared_fixtures, "anime-21-one-piece-moreinfo.html", "https://myanimelist.net/anime/21/One_Piece/moreinfo")
    )
    assert (one_piece.mal_id, one_piece.title, one_piece.title_synonyms, one_piece.episodes) == (
        21,
        "One Piece",
        ["OP"],
        "Unknown",
    )
    assert (one_piece.score, one_piece.scored_by, one_piece.members) == ("8.73", "1496122", "2,624,276")
    assert record_from_mal(asdict(one_piece)).fields.get("episodes") is None


def test_it_keeps_the_record_when_a_truncated_page_loses_its_statistics(shared_fixtures):
    body = (shared_fixtures / "mal" / "anime-6-trigun.html").read_bytes()
    cut = HtmlResponse(url="https://myanimelist.net/anime/6", body=body[: body.index(b"<h2>Statistics</h2>")])
    item = parse_anime_page(cut)
    assert (item.mal_id, item.title, item.type, item.genres, item.score, item.members, item.synopsis) == (
        6,
        "Trigun",
        "TV",
        ["Action", "Adventure", "Sci-Fi"],
        "",
        "",
        "",
    )


def test_it_reads_the_50_rows_of_the_top_anime_page(shared_fixtures):
    rows = parse_list_page(page(shared_fixtures, "topanime-0.html", "https://myanimelist.net/topanime.php"))
    assert len(rows) == 50
    assert [r.rank for r in rows] == list(range(1, 51))
    assert (rows[0].mal_id, rows[0].title, rows[0].members) == (59978, "Sousou no Frieren 2nd Season", 304_031)
    assert (rows[1].mal_id, rows[1].title, rows[1].members) == (52991, "Sousou no Frieren", 1_307_515)
    assert (rows[-1].mal_id, rows[-1].members) == (61517, 32_408)
    assert len({r.mal_id for r in rows}) == 50


def test_it_follows_list_rows_above_the_threshold_and_the_next_page(shared_fixtures):
    crawler = get_crawler(MalSpider, {"MAL_BASE_URL": "http://mal.test"})
    spider = MalSpider.from_crawler(crawler, min_members=100_000)
    crawler.spider = spider
    crawler.stats.open_spider()
    response = page(shared_fixtures, "topanime-0.html", "http://mal.test/topanime.php?type=bypopularity&limit=0")
    urls = [request.url for request in spider.parse_list(response, offset=0)]
    assert len(urls) == 48  # 47 rows with >= 100,000 members, then the next list page
    assert urls[0] == "http://mal.test/anime/59978" and "http://mal.test/anime/2921" not in urls
    assert urls[-1] == "http://mal.test/topanime.php?type=bypopularity&limit=50"
    assert crawler.stats.get_value("crawl/skipped/members < 100,000") == 3
