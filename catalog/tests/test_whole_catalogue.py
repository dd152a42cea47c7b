"""The whole MyAnimeList catalogue from ../shared/data: every anime except music videos,
commercials, promotional videos and adult titles; one spelling per type; members with their date;
tiers only where enough ratings back the score; franchises from the related-anime graph; tags;
and the less popular anime as findable and as finished as the popular ones."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db.models import Q
from django.test import Client

from catalog.models import Anime, AnimeRelation, Tag, TierThresholds
from catalog.tiers import RELIABLE_RATINGS, ratings_estimate
from catalog.vocabulary import AIRING, ANIME_TYPES, FINISHED, UPCOMING

pytestmark = pytest.mark.django_db


def test_it_holds_every_anime_but_music_videos_promotions_and_adult_titles(catalog):
    assert Anime.objects.count() >= 21_500
    assert set(Anime.objects.values_list("type", flat=True).distinct()) <= {*ANIME_TYPES, ""} - {"Music", "CM", "PV"}
    assert not Anime.objects.filter(adult=True).exists()
    assert not Anime.objects.filter(Q(rating__startswith="Rx") | Q(genres__name="Hentai")).exists()
    assert set(Anime.objects.values_list("status", flat=True).distinct()) <= {FINISHED, AIRING, UPCOMING, ""}
    # "TV Special" and AniList's SPECIAL are one type; TV_SHORT is TV.
    assert Anime.objects.get(mal_id=4037).type == "Special"  # Cowboy Bebop: Yoseatsume Blues
    assert Anime.objects.filter(status=UPCOMING).count() > 100 and Anime.objects.filter(status=AIRING).count() > 100


def test_members_keep_their_date_and_an_estimate_says_so(catalog, client: Client):
    bebop = Anime.objects.get(mal_id=1)
    assert (bebop.members, bebop.members_as_of, bebop.members_estimated) == (1_929_241, dt.date(2025, 1, 1), True)
    steins = Anime.objects.get(mal_id=9253)
    assert steins.members_as_of >= dt.date(2025, 1, 1)
    season = Anime.objects.get(mal_id=16498)  # Attack on Titan: in the season dumps of 2026-02-15
    assert (season.members_as_of, season.members_estimated) == (dt.date(2026, 2, 15), False)
    page = client.get("/anime/1/").content.decode()
    assert "≈ 1,929,241<small>estimate of Jan 2025</small>" in page
    unknown = Anime.objects.filter(members=None).order_by("mal_id").first()
    assert unknown is not None
    assert "–<small>not known</small>" in client.get(f"/anime/{unknown.mal_id}/").content.decode()
    # Unknown sorts last both ways: never as 0 members.
    for sort in ("members", "-members"):
        last = client.get("/api/anime/", {"sort": sort, "page_size": 100, "page": 1}).json()
        assert all(a["members"] is not None for a in last["results"])


def test_only_a_score_backed_by_enough_ratings_is_tiered(catalog, client: Client):
    thresholds = TierThresholds.objects.current()
    assert thresholds.scored_count == Anime.objects.reliably_rated().count() > 8_000
    few = Anime.objects.get(mal_id=35085)  # a 10.00 from one rating
    assert few.score == 10.0 and not few.score_reliable and few.tier == ""
    assert ratings_estimate(few.scored_by, few.members) < RELIABLE_RATINGS
    assert "Not enough ratings yet" in client.get("/anime/35085/").content.decode()
    detail = client.get("/api/anime/35085/").json()
    assert (detail["tier"], detail["rated_enough"]) == (None, False)
    assert not Anime.objects.filter(score_reliable=False).exclude(tier="").exists()
    home = client.get("/").content.decode()
    assert f"≥ {thresholds.top_tier_min:.2f}" in home


@pytest.mark.parametrize(
    ("together", "apart"),
    [
        ([20507, 30503, 20767], [2912]),  # Noragami and Noragami Aragoto (a title change)
        ([24833, 34389], []),  # Assassination Classroom and its spin-off Koro-sensei Q!
        ([3546, 3545, 2901], []),  # Kochikame: the film of 1985, the TV series, the films
        ([32615, 34742], []),  # Saga of Tanya the Evil and its parody Youjo Shenki
        ([2912], [34234]),  # Ohayou! Spank and Ohayou! Kokekkou-san: the same first word only
    ],
)
def test_franchises_follow_the_related_anime_graph(catalog, together, apart):
    keys = dict(Anime.objects.filter(mal_id__in=together + apart).values_list("mal_id", "franchise_key"))
    assert len({keys[m] for m in together}) == 1
    assert not {keys[m] for m in apart} & {keys[together[0]]}


def test_character_and_other_links_do_not_join_franchises(catalog):
    for relation in ("character", "other"):
        links = AnimeRelation.objects.filter(relation=relation).values_list("anime_id", "related_mal_id")[:2000]
        keys = dict(Anime.objects.values_list("mal_id", "franchise_key"))
        apart = [(a, b) for a, b in links if b in keys and keys[a] != keys[b]]
        assert len(apart) > 100, relation  # many such links join nothing


def test_tags_are_kept_apart_from_genres_and_filter_browse_and_the_api(catalog, client: Client):
    bebop = Anime.objects.get(mal_id=1)
    assert {"Bounty Hunter", "Space"} & set(bebop.tags.values_list("name", flat=True)) == {"Bounty Hunter"}
    assert "Space" in set(bebop.genres.values_list("name", flat=True))  # MAL's theme, not a tag
    assert Tag.objects.count() > 100
    found = client.get("/api/anime/", {"tag": "bounty hunter", "page_size": 100}).json()
    assert 1 in {a["mal_id"] for a in found["results"]}
    assert found["count"] == Anime.objects.filter(tags__name="Bounty Hunter").count()
    assert "Bounty Hunter" in client.get("/api/anime/1/").json()["tags"]
    tags = {t["name"]: t["anime_count"] for t in client.get("/api/tags/").json()}
    assert tags["Bounty Hunter"] == found["count"]
    assert client.get("/api/anime/", {"tag": "Not A Tag"}).status_code == 400
    page = client.get("/anime/1/").content.decode()
    assert 'class="chip chip--tag" href="/anime/?tag=Bounty%20Hunter">Bounty Hunter</a>' in page
    # The data spells one tag "Bakumatsu   Meiji Period": names are kept with single spaces.
    assert not Tag.objects.filter(name__contains="  ").exists()
    assert Tag.objects.filter(name="Bakumatsu Meiji Period").exists()


def _obscure_sample() -> list[Anime]:
    """20 anime drawn at random (fixed seed) from those with fewer than 10,000 known members or
    none: the ones people ask about that the popular slice does not hold."""
    ids = sorted(Anime.objects.filter(Q(members__lt=10_000) | Q(members=None)).values_list("mal_id", flat=True))
    return list(Anime.objects.filter(mal_id__in=random.Random(2026).sample(ids, 20)).prefetch_related("genres"))


def test_twenty_less_popular_anime_have_finished_pages(catalog, client: Client):
    for anime in _obscure_sample():
        response = client.get(f"/anime/{anime.mal_id}/")
        assert response.status_code == 200, anime.mal_id
        html = response.content.decode()
        assert f"<h1>{anime.title}</h1>".replace("&", "&amp;").replace("'", "&#x27;") in html
        assert 'id="synopsis-heading"' in html and ("Not enough ratings yet" in html or anime.tier)
        assert ("not known" in html) == (anime.members is None)
        assert "None" not in html.split("<main", 1)[1]  # nothing unfilled shows as Python's None


def test_a_search_for_a_less_popular_anime_s_title_finds_it_first(search_index, client: Client):
    for anime in _obscure_sample():
        title = anime.title_english or anime.title
        results = client.get("/api/search/", {"q": title, "limit": 5}).json()["results"]
        assert results and results[0]["anime"]["mal_id"] == anime.mal_id, (anime.mal_id, title, results[:2])
