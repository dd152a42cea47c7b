"""The whole catalogue through the real ``manage.py crawl jikan``: every ``/anime`` page in MAL id
order, relations read for new and changed anime only, franchise keys from the relation graph,
against the fake Jikan (recorded anime objects and relations, plus generated ones)."""

from __future__ import annotations

import itertools
import re

import pytest

from catalog.franchise import franchise_key_for
from catalog.models import Anime, AnimeRelation
from crawler.tests.conftest import CrawlRun
from crawler.tests.fakesource import (
    ADULT_ID,
    FRIEREN_2_ID,
    FRIEREN_3_ID,
    FRIEREN_ID,
    MUSIC_ID,
    NO_RELATIONS_ID,
    ONE_PIECE_ID,
    TORIKO_ID,
    FakeSources,
)
from crawler.tests.test_crawl_end_to_end import summary_counts

pytestmark = pytest.mark.slow

LIST_PAGES = [f"/v4/anime?page={page}&order_by=mal_id&sort=asc" for page in (1, 2, 3)]


def jikan_paths(fake: FakeSources, since: int = 0) -> list[str]:
    return [path for _, path in fake.requests[since:] if path.startswith("/v4/")]


def relations_asked(fake: FakeSources, since: int = 0) -> list[int]:
    """The MAL ids whose relations were requested (a retried request counts twice)."""
    return [int(m[1]) for p in jikan_paths(fake, since) if (m := re.fullmatch(r"/v4/anime/(\d+)/relations", p))]


def full_crawl(run_crawl) -> CrawlRun:
    result = run_crawl("jikan", "--no-throttle")
    assert result.returncode == 0, result.stderr
    return result


def test_it_crawls_the_whole_catalogue_reading_relations_once_and_a_second_run_changes_nothing(
    run_crawl, crawl_db, sources
):
    _, fake = sources
    first = full_crawl(run_crawl)
    anime = Anime.objects.using(crawl_db.alias)

    # Every anime of the three pages but the music video and the adult title, with the reasons.
    kept = [e["mal_id"] for e in fake.catalogue() if e["mal_id"] not in (MUSIC_ID, ADULT_ID)]
    assert len(kept) == 68
    assert sorted(anime.values_list("mal_id", flat=True)) == kept
    assert summary_counts(first.stdout) == {"created": 68, "updated": 0, "unchanged": 0, "skipped": 2}
    assert "  skipped (type Music): 1" in first.stdout and "  skipped (adult): 1" in first.stdout
    # In MAL id order, to the page without a next one.
    assert [path for path in jikan_paths(fake) if path.startswith("/v4/anime?")] == LIST_PAGES
    frieren = anime.get(mal_id=FRIEREN_ID)
    assert (frieren.title, frieren.type, frieren.episodes, frieren.score, frieren.provenance) == (
        "Sousou no Frieren",
        "TV",
        28,
        9.27,
        "jikan",
    )

    # The relations of each new anime, once; 429 (Retry-After: 1) and 500 were retried.
    asked = relations_asked(fake)
    assert sorted(set(asked)) == kept
    assert sorted(mal_id for mal_id in asked if asked.count(mal_id) > 1) == [21, 21, 5114, 5114]
    assert "retries 2" in first.stdout
    times = [t for t, path in fake.requests if path == "/v4/anime/5114/relations"]
    assert times[1] - times[0] >= 0.95
    assert "Relations: asked for 68 anime, read 68, changed 6" in first.stdout  # 1, 21, 5114, 52991, 59978, 10033
    links = AnimeRelation.objects.using(crawl_db.alias)
    assert set(links.filter(anime_id=FRIEREN_ID).values_list("related_mal_id", "relation")) == {
        (FRIEREN_2_ID, "sequel"),
        (56885, "side_story"),
        (56805, "other"),
        (58313, "other"),
    }  # the recorded relations, manga adaptation left out
    assert not anime.filter(relations_checked_at__isnull=True).exists()

    # Franchise keys follow the relations: a Sequel joins, a Character link does not.
    key = dict(anime.values_list("mal_id", "franchise_key"))
    assert key[FRIEREN_ID] == key[FRIEREN_2_ID] == "sousou-no-frieren-52991"
    assert list(links.filter(anime_id=TORIKO_ID).values_list("related_mal_id", "relation")) == [
        (ONE_PIECE_ID, "character")
    ]
    assert (key[ONE_PIECE_ID], key[TORIKO_ID]) == ("one-piece-21", "toriko-10033")
    # Created with a key from the title, each anime now has the graph's: all 68 moved.
    assert all(key[mal_id] != franchise_key_for(title) for mal_id, title in anime.values_list("mal_id", "title"))
    assert "Franchise keys: 68 changed" in first.stdout

    # A week later, nothing has moved: the list pages again, no relations, nothing written.
    before, stored = len(fake.requests), list(anime.order_by("mal_id").values_list("mal_id", "updated_at"))
    second = full_crawl(run_crawl)
    assert summary_counts(second.stdout) == {"created": 0, "updated": 0, "unchanged": 68, "skipped": 2}
    assert jikan_paths(fake, before) == LIST_PAGES
    assert "Relations:" not in second.stdout and "Franchise keys:" not in second.stdout
    assert list(anime.order_by("mal_id").values_list("mal_id", "updated_at")) == stored


def test_it_reads_again_the_relations_of_an_anime_that_changed_and_of_new_ones_only(run_crawl, crawl_db, sources):
    _, fake = sources
    full_crawl(run_crawl)
    anime = Anime.objects.using(crawl_db.alias)
    mushishi_members = anime.get(mal_id=457).members
    first_keys = dict(anime.values_list("mal_id", "franchise_key"))

    # Later: Frieren's second season airs (status, episodes) and now names a third season, which
    # is new, as is a title whose relations answer 404; Mushishi only has more members.
    fake.later = True
    before = len(fake.requests)
    later = full_crawl(run_crawl)
    assert summary_counts(later.stdout) == {"created": 2, "updated": 2, "unchanged": 66, "skipped": 3}
    assert "  skipped (relations not found (404)): 1" in later.stdout
    assert sorted(relations_asked(fake, before)) == [FRIEREN_2_ID, FRIEREN_3_ID, NO_RELATIONS_ID]
    assert "Relations: asked for 3 anime, read 2, changed 2" in later.stdout

    season_2 = anime.get(mal_id=FRIEREN_2_ID)
    assert (season_2.status, season_2.episodes) == ("Currently Airing", 10)
    assert set(season_2.relations.values_list("related_mal_id", "relation")) == {
        (FRIEREN_ID, "prequel"),
        (FRIEREN_3_ID, "sequel"),
    }
    assert anime.get(mal_id=457).members == mushishi_members + 1_000  # stored, relations not re-read
    # The two new anime move from the title's key they were created with to the graph's: the
    # third season joins the franchise, the 404 one (relations unread) is a franchise of its own;
    # no other key moved.
    key = dict(anime.values_list("mal_id", "franchise_key"))
    assert key[FRIEREN_3_ID] == key[FRIEREN_2_ID] == key[FRIEREN_ID] == "sousou-no-frieren-52991"
    assert key[NO_RELATIONS_ID] == f"relations-gone-missing-{NO_RELATIONS_ID}"
    assert {mal_id: key[mal_id] for mal_id in first_keys} == first_keys
    assert "Franchise keys: 2 changed" in later.stdout
    assert anime.get(mal_id=NO_RELATIONS_ID).relations_checked_at is None


def test_it_walks_the_catalogue_politely_one_request_a_second(run_crawl, crawl_db, sources):
    result = run_crawl("jikan", "--limit", "2")  # throttled as in production
    assert result.returncode == 0, result.stderr
    assert sorted(Anime.objects.using(crawl_db.alias).values_list("mal_id", flat=True)) == [1, 19]
    _, fake = sources
    paths = jikan_paths(fake)
    assert paths[0] == LIST_PAGES[0] and sorted(paths[1:]) == ["/v4/anime/1/relations", "/v4/anime/19/relations"]
    # Jikan allows 3 requests/s and 60/min: list pages and relations alike are ~1 s apart.
    gaps = [b - a for a, b in itertools.pairwise(t for t, path in fake.requests if path.startswith("/v4/"))]
    assert min(gaps) >= 0.95, gaps
