"""One anime, three ways in: crawled by ``mal``, crawled by ``jikan``, imported from
../shared/data. Wherever the sources agree, the stored fields are the same."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from catalog.importing import iter_files, read_records
from catalog.models import Anime
from catalog.records import AnimeRecord, merge_records, record_from_jikan, record_from_mal
from catalog.services import UNCHANGED, UPDATED, anime_upsert
from crawler.spiders.mal import parse_anime_page

# Fields that do not move with time (counts do: each recording has its own day).
STABLE_FIELDS = (
    "title", "title_english", "title_japanese", "title_synonyms", "type", "status", "aired_from", "year",
    "season", "source", "rating", "duration", "studios",
)  # fmt: skip


def mal_record(shared_fixtures: Path, name: str, url: str) -> AnimeRecord:
    body = (shared_fixtures / "mal" / name).read_bytes()
    return record_from_mal(asdict(parse_anime_page(HtmlResponse(url=url, body=body))))


def jikan_record(shared_fixtures: Path, name: str) -> AnimeRecord:
    return record_from_jikan(json.loads((shared_fixtures / "jikan" / name).read_text())["data"])


@pytest.fixture(scope="module")
def imported(shared_data: Path) -> dict[int, AnimeRecord]:
    """The records import_anime merges for these ids from the files taken from MyAnimeList and
    Jikan, read the way it reads them. (Not anime-mapper's: its titles are AniList's romaji,
    "ONE PIECE", and its genres AniList's, so they are not the same data in another form.)"""
    groups: dict[int, list[AnimeRecord]] = {}
    for path in iter_files([shared_data]):
        if "anime-mapper" in path.parts:
            continue
        for result in read_records(path):
            if result.record is not None and result.record.mal_id in (1, 6, 21):
                groups.setdefault(result.record.mal_id, []).append(result.record)
    return {mal_id: merge_records(records) for mal_id, records in groups.items()}


@pytest.mark.parametrize(
    ("mal_id", "mal_page", "mal_url", "jikan_file", "score"),
    [
        (
            1,
            "anime-1-cowboy-bebop-stats.html",
            "https://myanimelist.net/anime/1/Cowboy_Bebop/stats",
            "anime-1-full.json",
            8.75,
        ),
        (
            21,
            "anime-21-one-piece-moreinfo.html",
            "https://myanimelist.net/anime/21/One_Piece/moreinfo",
            "anime-21-full.json",
            8.73,
        ),
    ],
)
def test_it_gives_the_same_fields_from_mal_jikan_and_the_import(
    shared_fixtures, imported, mal_id, mal_page, mal_url, jikan_file, score
):
    mal = mal_record(shared_fixtures, mal_page, mal_url)
    jikan = jikan_record(shared_fixtures, jikan_file)
    imp = imported[mal_id]
    for name in STABLE_FIELDS:
        assert mal.fields.get(name) == jikan.fields.get(name) == imp.fields.get(name), name
    assert mal.fields["aired_from"] is not None and mal.fields["studios"]
    assert mal.fields.get("aired_to") == jikan.fields.get("aired_to") == imp.fields.get("aired_to")
    assert mal.fields.get("episodes") == jikan.fields.get("episodes") == imp.fields.get("episodes")
    assert mal.fields["score"] == jikan.fields["score"] == imp.fields["score"] == score
    assert mal.genres == jikan.genres == imp.genres
    assert mal.fields["mal_url"] == jikan.fields["mal_url"]
    # Jikan's large cover is what the page shows, with the "l" suffix (One Piece's recording
    # has Jikan's image host rewritten, so only the path is compared).
    assert mal.fields["image_url"].split("/images/")[1] == jikan.fields["image_url"].split("/images/")[1]


def test_it_reads_trigun_from_its_page_as_the_import_has_it(shared_fixtures, imported):
    mal = mal_record(shared_fixtures, "anime-6-trigun.html", "https://myanimelist.net/anime/6/Trigun")
    imp = imported[6]
    for name in (*STABLE_FIELDS, "aired_to", "episodes", "score", "synopsis"):
        assert mal.fields.get(name) == imp.fields.get(name), name
    assert mal.genres == imp.genres


def test_it_stores_a_crawled_anime_over_the_imported_one_changing_only_what_moved(catalog, shared_fixtures):
    bebop = Anime.objects.get(mal_id=1)
    synopsis = bebop.synopsis
    imported_genres = set(bebop.genres.values_list("name", flat=True))

    from_mal = anime_upsert(
        record=mal_record(
            shared_fixtures, "anime-1-cowboy-bebop-stats.html", "https://myanimelist.net/anime/1/Cowboy_Bebop/stats"
        )
    )
    assert from_mal.status == UPDATED
    # Only counts of another day (MyAnimeList's own member count replacing the imported
    # estimate). The import's newest file, anime-mapper, has AniList's version of the duration
    # ("25 min per ep" from minutes) and genres (Adventure, Drama, Comedy, Detective), but
    # MyAnimeList's own values from the older files won there, so the page agrees with them.
    assert set(from_mal.changed_fields) == {
        "scored_by",
        "rank",
        "members",
        "members_estimated",
        "favorites",
        "provenance",
    }
    assert (bebop.duration, imported_genres) == (
        "24 min per ep",
        {"Action", "Award Winning", "Sci-Fi", "Adult Cast", "Space"},
    )

    from_jikan = anime_upsert(record=jikan_record(shared_fixtures, "anime-1-full.json"))
    assert from_jikan.status == UPDATED
    # The page and Jikan agree on everything but the counts (recorded months apart); the
    # background text was edited on MyAnimeList since the imported 2023 copy.
    assert set(from_jikan.changed_fields) == {
        "scored_by",
        "rank",
        "popularity",
        "members",
        "favorites",
        "background",
        "provenance",
    }

    again = anime_upsert(record=jikan_record(shared_fixtures, "anime-1-full.json"))
    assert again.status == UNCHANGED
    bebop.refresh_from_db()
    assert bebop.synopsis == synopsis
    # MyAnimeList's genres, as both the page and Jikan give them.
    assert set(bebop.genres.values_list("name", flat=True)) == {
        "Action",
        "Award Winning",
        "Sci-Fi",
        "Adult Cast",
        "Space",
    }
    assert (bebop.members, bebop.provenance) == (2_071_833, "jikan")
