"""The real ``manage.py crawl`` against the fake sources (recorded pages served byte for byte,
plus generated edge cases), checked in the database it wrote."""

from __future__ import annotations

import re

import pytest

from catalog.models import Anime
from crawler.tests.fakesource import FLAKY_ID, FORBIDDEN_ID, HEADLESS_ID, MISSING_ID, THROTTLED_ID, TRUNCATED_ID

pytestmark = pytest.mark.slow

TOP_ANIME_0_IDS = [
    59978, 52991, 57555, 5114, 9253, 38524, 39486, 28977, 11061, 820, 9969, 15417, 60022, 41467, 34096, 43608, 42938,
    4181, 918, 28851, 58514, 2904, 35180, 15335, 19, 37491, 54492, 35247, 51535, 37987, 40682, 32281, 59571, 49387,
    36838, 263, 40028, 37521, 31758, 37510, 2921, 32935, 199, 48583, 60489, 17074, 60098, 1, 47917, 61517,
]  # fmt: skip


def summary_counts(stdout: str) -> dict[str, int]:
    match = re.search(r"created ([\d,]+), updated ([\d,]+), unchanged ([\d,]+), skipped ([\d,]+)", stdout)
    assert match, stdout
    return dict(
        zip(
            ("created", "updated", "unchanged", "skipped"),
            (int(g.replace(",", "")) for g in match.groups()),
            strict=True,
        )
    )


def genres_of(anime: Anime) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for genre in anime.genres.order_by("name"):
        out.setdefault(genre.kind, []).append(genre.name)
    return out


def test_it_crawls_mal_into_the_catalogue_and_a_second_run_changes_nothing(run_crawl, crawl_db, sources):
    first = run_crawl("mal", "--min-members", "30000", "--no-throttle")
    assert first.returncode == 0, first.stderr
    anime = Anime.objects.using(crawl_db.alias)

    trigun = anime.get(mal_id=6)
    assert (trigun.title, trigun.title_english, trigun.title_japanese) == ("Trigun", "Trigun", "トライガン")
    assert (trigun.score, trigun.scored_by, trigun.members, trigun.favorites) == (8.22, 396_690, 822_213, 17_375)
    assert (trigun.rank, trigun.popularity, trigun.episodes, trigun.type) == (394, 264, 26, "TV")
    assert (str(trigun.aired_from), str(trigun.aired_to), trigun.year, trigun.season) == (
        "1998-04-01",
        "1998-09-30",
        1998,
        "spring",
    )
    assert (trigun.source, trigun.duration, trigun.rating) == ("Manga", "24 min per ep", "PG-13 - Teens 13 or older")
    assert trigun.studios == ["Madhouse"]
    assert genres_of(trigun) == {
        "genre": ["Action", "Adventure", "Sci-Fi"],
        "theme": ["Adult Cast"],
        "demographic": ["Shounen"],
    }
    assert trigun.synopsis.startswith("Vash the Stampede is the man with a $$60,000,000,000 bounty on his head.")
    assert trigun.synopsis.endswith("pushed to the breaking point.\n\n[Written by MAL Rewrite]")
    assert trigun.background.startswith("The Japanese release by Victor Entertainment has different openings")
    assert trigun.image_url == "https://cdn.myanimelist.net/images/anime/1130/120002l.jpg"
    assert trigun.mal_url == "https://myanimelist.net/anime/6/Trigun"
    assert trigun.provenance == "mal" and trigun.fetched_at is not None

    ao = anime.get(mal_id=57181)
    assert (ao.title, ao.score, ao.scored_by, ao.members) == ("Ao no Hako", 8.40, 16_830, 128_442)
    assert genres_of(ao) == {
        "genre": ["Romance", "Sports"],
        "theme": ["School", "Team Sports"],
        "demographic": ["Shounen"],
    }

    # All 50 rows of the recorded top-anime page were followed and stored.
    assert set(TOP_ANIME_0_IDS) <= set(anime.values_list("mal_id", flat=True))
    # The page without synopsis (Cowboy Bebop's stats sub-page) keeps everything else.
    bebop = anime.get(mal_id=1)
    assert (bebop.title, bebop.synopsis, bebop.score, bebop.scored_by) == ("Cowboy Bebop", "", 8.75, 1_046_024)
    # 429 with Retry-After and 500 were retried and stored; the truncated page lost its statistics only.
    assert anime.filter(mal_id__in=[THROTTLED_ID, FLAKY_ID]).count() == 2
    truncated = anime.get(mal_id=TRUNCATED_ID)
    assert (truncated.title, truncated.type, truncated.score, truncated.members) == ("Truncated Page", "TV", None, None)
    assert genres_of(truncated)["theme"] == ["Adult Cast"]
    # Cut before any title, 404, robots.txt and the row under the threshold: not stored.
    assert not anime.filter(mal_id__in=[HEADLESS_ID, MISSING_ID, FORBIDDEN_ID, 900009]).exists()
    assert anime.count() == 50 + 6

    assert summary_counts(first.stdout) == {"created": 56, "updated": 0, "unchanged": 0, "skipped": 7}
    for line in (
        "skipped (missing title): 1",
        "skipped (not found (404)): 1",
        "skipped (forbidden by robots.txt): 1",
        "skipped (members < 30,000): 4",
    ):
        assert line in first.stdout
    assert "items/s" in first.stdout and "pages/s" in first.stdout
    assert re.search(r"pages \d+ \| items \d+ \([\d.]+/s\)", first.stderr), first.stderr  # live progress
    _, fake = sources
    assert fake.hits["/anime/900006"] == 2 and fake.hits["/anime/900007"] == 2
    assert fake.hits["/anime/900005"] == 0  # robots.txt obeyed
    assert fake.user_agents == {"animesite-crawler/1.0 (anime catalogue site; contact: tests@example.invalid)"}
    assert "/topanime.php?type=bypopularity&limit=60" in fake.hits  # walked on to a page under the threshold
    assert "/topanime.php?type=bypopularity&limit=63" not in fake.hits  # ... and stopped there

    second = run_crawl("mal", "--min-members", "30000", "--no-throttle")
    assert second.returncode == 0, second.stderr
    assert summary_counts(second.stdout) == {"created": 0, "updated": 0, "unchanged": 56, "skipped": 7}
    assert anime.count() == 56


def test_it_walks_the_jikan_popularity_list_down_to_a_members_threshold(run_crawl, crawl_db, sources):
    # With a threshold the by-popularity list is walked and stops early (without one, the whole
    # catalogue is: see test_full_crawl.py, which also checks the pace of a throttled crawl).
    result = run_crawl("jikan", "--min-members", "100000", "--no-throttle")
    assert result.returncode == 0, result.stderr
    anime = Anime.objects.using(crawl_db.alias)

    mushishi = anime.get(mal_id=457)
    assert (mushishi.title, mushishi.score, mushishi.scored_by, mushishi.members) == (
        "Mushishi",
        8.67,
        260_971,
        766_612,
    )
    assert genres_of(mushishi) == {
        "genre": ["Adventure", "Fantasy", "Mystery", "Slice of Life", "Supernatural"],
        "theme": ["Adult Cast", "Historical", "Iyashikei"],
        "demographic": ["Seinen"],
    }
    assert mushishi.provenance == "jikan"
    fma = anime.get(mal_id=5114)
    assert fma.title == "Fullmetal Alchemist: Brotherhood" and fma.members == 3_032_586  # the 2022 list entry
    # 25 + 25 list entries, one on each page under 100,000 members.
    assert anime.count() == 48
    assert not anime.filter(mal_id__in=[40682, 900001]).exists()
    assert summary_counts(result.stdout) == {"created": 48, "updated": 0, "unchanged": 0, "skipped": 3}
    assert "skipped (members < 100,000): 3" in result.stdout

    _, fake = sources
    assert [path for _, path in fake.requests if "/top/anime" in path] == [
        f"/v4/top/anime?filter=bypopularity&page={page}" for page in (1, 2, 3)
    ]
    # List pages carry no relations: they were asked for each anime created (5114's and 21's
    # twice: 429 and 500 first).
    relations = [path for _, path in fake.requests if path.endswith("/relations")]
    assert len(relations) == 48 + 2 and sorted(set(relations)) == sorted(
        f"/v4/anime/{mal_id}/relations" for mal_id in anime.values_list("mal_id", flat=True)
    )
    assert "Relations: asked for 48 anime, read 48, changed 4" in result.stdout  # 1, 21, 5114, 52991


def test_it_refreshes_given_ids_retrying_429_and_500_and_giving_up_on_404(run_crawl, crawl_db, sources):
    result = run_crawl("jikan", "--ids", "1,5114,21,999999", "--no-throttle")
    assert result.returncode == 0, result.stderr
    anime = Anime.objects.using(crawl_db.alias)
    assert sorted(anime.values_list("mal_id", flat=True)) == [1, 21, 5114]
    bebop = anime.get(mal_id=1)
    assert (bebop.score, bebop.scored_by, bebop.members, bebop.duration) == (
        8.75,
        1_068_728,
        2_071_833,
        "24 min per ep",
    )
    assert genres_of(bebop) == {"genre": ["Action", "Award Winning", "Sci-Fi"], "theme": ["Adult Cast", "Space"]}
    one_piece = anime.get(mal_id=21)
    assert (one_piece.episodes, one_piece.status, one_piece.aired_to) == (None, "Currently Airing", None)
    assert summary_counts(result.stdout) == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 1}
    assert "skipped (not found (404)): 1" in result.stdout
    assert "retries 2" in result.stdout
    assert "gave up on" in result.stderr and "/v4/anime/999999/full: 404 not found" in result.stderr
    # /full holds the relations: stored with the anime, no /relations request.
    assert set(bebop.relations.values_list("related_mal_id", "relation")) == {
        (5, "side_story"),
        (17205, "side_story"),
        (4037, "summary"),
    }
    assert anime.filter(relations_checked_at__isnull=True).count() == 0
    _, fake = sources
    assert not [path for _, path in fake.requests if path.endswith("/relations")]
    assert fake.hits["/v4/anime/5114/full"] == 2 and fake.hits["/v4/anime/21/full"] == 2
    # Retry-After: 1 was honoured before asking for 5114 again.
    asked = [t for t, path in fake.requests if path == "/v4/anime/5114/full"]
    assert asked[1] - asked[0] >= 0.95

    # --stale-days: everything was fetched just now, so nothing is requested again.
    before = len(fake.requests)
    fresh = run_crawl("jikan", "--ids", "1,5114,21", "--stale-days", "7", "--no-throttle")
    assert fresh.returncode == 0, fresh.stderr
    assert len(fake.requests) == before
    assert "skipped (fresh): 3" in fresh.stdout
    # ... while --stale-days 0 refreshes them all (and stores nothing new: unchanged).
    again = run_crawl("jikan", "--ids", "1,5114,21", "--stale-days", "0", "--no-throttle")
    assert summary_counts(again.stdout) == {"created": 0, "updated": 0, "unchanged": 3, "skipped": 0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kitsu"], "unknown spider 'kitsu': choose one of jikan, mal"),
        (["jikan", "--ids", "1,x"], "--ids must be comma-separated MAL ids"),
        (["jikan", "--limit", "0"], "--limit must be >= 1"),
        (["mal", "--min-members", "-5"], "--min-members must be >= 0"),
        (["jikan", "--stale-days", "-1"], "--stale-days must be >= 0"),
    ],
)
def test_it_rejects_bad_arguments_with_a_clear_message(run_crawl, args, message):
    result = run_crawl(*args)
    assert result.returncode == 1
    assert message in result.stderr


def test_it_refuses_a_second_crawl_while_one_runs(run_crawl, crawl_db, settings):
    from crawler.services import CrawlLock

    settings.VAR_DIR = crawl_db.var_dir
    lock = CrawlLock("jikan")
    assert lock.acquire()
    try:
        result = run_crawl("jikan", "--ids", "1", "--no-throttle")
    finally:
        lock.release()
    assert result.returncode == 1
    assert "another jikan crawl is running" in result.stderr
    assert not Anime.objects.using(crawl_db.alias).exists()
