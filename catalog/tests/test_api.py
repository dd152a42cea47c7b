"""The REST API on the real catalogue (imported once per session by conftest)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Count, F
from django.test import Client

from catalog.models import Anime, Genre, TierThresholds
from catalog.tiers import Tier

pytestmark = pytest.mark.usefixtures("catalog")

PAGE_SIZE = 24


def most_members_first() -> Any:
    """The API's default order: most members first, unknown member counts last, then MAL id."""
    return Anime.objects.order_by(F("members").desc(nulls_last=True), "mal_id").values_list("mal_id", flat=True)


def pages_of(count: int) -> int:
    return -(-count // PAGE_SIZE)


def get_json(client: Client, url: str, status: int = 200) -> Any:
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def all_pages(client: Client, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        body = get_json(client, next_url)
        items.extend(body["results"])
        next_url = body["next"]
    return items


# ---------------------------------------------------------------------------- list


def test_it_lists_the_whole_catalogue_in_pages_of_24(client: Client) -> None:
    body = get_json(client, "/api/anime/")

    # The whole catalogue (no adult titles in it: those would be hidden without adult=include).
    assert body["count"] == Anime.objects.count() > 21_000
    assert len(body["results"]) == 24
    assert body["previous"] is None
    assert body["next"] == "http://testserver/api/anime/?page=2"
    # Default order: most members first (Shingeki no Kyojin, Death Note, FMA:B); the thousands
    # of anime whose member count is unknown come last, never first.
    most_watched = list(most_members_first()[:24])
    assert [item["mal_id"] for item in body["results"]] == most_watched
    assert most_watched[:3] == [16498, 1535, 5114]
    assert all(item["members"] is not None for item in body["results"])


def test_it_serves_a_list_item_with_its_tier_and_link(client: Client) -> None:
    body = get_json(client, "/api/anime/?page_size=3")
    fmab = body["results"][2]
    thresholds = TierThresholds.objects.latest()

    assert fmab == {
        "mal_id": 5114,
        "url": "http://testserver/api/anime/5114/",
        "title": "Fullmetal Alchemist: Brotherhood",
        "title_english": "Fullmetal Alchemist: Brotherhood",
        "type": "TV",
        "episodes": 64,
        "year": 2009,
        "season": "spring",
        "score": 9.11,
        "scored_by": 2271024,
        "rated_enough": True,
        "members": 3613466,
        "members_as_of": "2026-02-15",  # MyAnimeList's own count from the season dump of that day
        "members_estimated": False,
        "tier": {
            "value": "top-tier",
            "label": "Top-tier",
            "threshold": thresholds.top_tier_min,
            "below": None,
            "scheme": "quartiles",
        },
        "genres": ["Action", "Adventure", "Drama", "Fantasy"],
        "themes": ["Military"],
        "demographics": ["Shounen"],
        "image_url": "https://cdn.myanimelist.net/images/anime/1208/94745l.jpg",
        "my_list": None,  # no imported list in this session
    }


def test_it_pages_with_page_and_page_size(client: Client) -> None:
    second = get_json(client, "/api/anime/?page=2")
    assert [item["mal_id"] for item in second["results"]] == list(most_members_first()[24:48])
    assert second["previous"] == "http://testserver/api/anime/"

    count = Anime.objects.count()
    last = get_json(client, "/api/anime/?page=last")
    assert len(last["results"]) == count - (pages_of(count) - 1) * PAGE_SIZE
    assert [item["mal_id"] for item in last["results"]] == list(most_members_first()[(pages_of(count) - 1) * 24 :])
    assert last["next"] is None

    big = get_json(client, "/api/anime/?page_size=1000")
    assert len(big["results"]) == 100  # capped at max_page_size


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=abc", "'abc' is not a page number: use a whole number from 1 to {pages}."),
        ("page=0", "'0' is not a page number: use a whole number from 1 to {pages}."),
        ("page=-3", "'-3' is not a page number: use a whole number from 1 to {pages}."),
        ("page={next}", "Page {next} does not exist: these results have {pages} pages."),
        ("page=99999999999999999999", "Page 99999999999999999999 does not exist: these results have {pages} pages."),
        ("type=Movie&page={next}", "Page {next} does not exist: these results have {pages} pages."),
    ],
)
def test_it_answers_400_naming_page_for_a_bad_page(client: Client, query: str, message: str) -> None:
    movies = "type=Movie" in query
    count = Anime.objects.filter(type="Movie").count() if movies else Anime.objects.count()
    pages = pages_of(count)
    # 21,842 anime in 911 pages; 4,649 movies in 194.
    assert pages > (190 if movies else 900)
    values = {"pages": pages, "next": pages + 1}
    assert get_json(client, f"/api/anime/?{query.format(**values)}", status=400) == {"page": [message.format(**values)]}
    if "{next}" in query:  # the one before it is the last page, which answers
        assert get_json(client, f"/api/anime/?{query.format(next=pages)}")["next"] is None


# ---------------------------------------------------------------------------- filters


def test_it_filters_by_genre_and_tier_sorted_by_score(client: Client) -> None:
    items = all_pages(client, "/api/anime/?genre=Action&tier=top-tier&sort=-score&page_size=100")

    expected = list(
        Anime.objects.filter(genres__name="Action", tier=Tier.TOP_TIER)
        .order_by("-score", "mal_id")
        .values_list("mal_id", flat=True)
    )
    assert len(items) == len(expected) > 700
    assert [item["mal_id"] for item in items] == expected
    assert items[0]["mal_id"] == 5114  # FMA:B, 9.11, the best-scored Action anime
    assert all("Action" in item["genres"] and item["tier"]["value"] == "top-tier" for item in items)
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)


def test_it_matches_genre_themes_and_demographics_case_insensitively(client: Client) -> None:
    body = get_json(client, "/api/anime/?genre=action&genre=MILITARY&genre=shounen")
    expected = (
        Anime.objects.filter(genres__name="Action").filter(genres__name="Military").filter(genres__name="Shounen")
    )
    assert body["count"] == expected.count() > 0
    assert all(
        "Action" in item["genres"] and "Military" in item["themes"] and "Shounen" in item["demographics"]
        for item in body["results"]
    )


def test_it_excludes_genres(client: Client) -> None:
    either = Anime.objects.filter(genres__name__in=["Comedy", "Romance"])
    body = get_json(client, "/api/anime/?exclude_genre=Comedy&exclude_genre=Romance")
    assert body["count"] == Anime.objects.count() - either.distinct().count() > 10_000

    # Every page of the movies without either, in order (the whole catalogue is 130 pages of 100).
    items = all_pages(client, "/api/anime/?type=Movie&exclude_genre=Comedy&exclude_genre=Romance&page_size=100")
    expected = (
        Anime.objects.filter(type="Movie")
        .exclude(mal_id__in=either.values("mal_id"))
        .order_by(F("members").desc(nulls_last=True), "mal_id")
        .values_list("mal_id", flat=True)
    )
    assert [item["mal_id"] for item in items] == list(expected)
    assert len(items) > 2_000
    assert not any({"Comedy", "Romance"} & set(item["genres"]) for item in items)


def test_it_matches_type_case_insensitively(client: Client) -> None:
    lower = get_json(client, "/api/anime/?type=movie&page_size=100")
    exact = get_json(client, "/api/anime/?type=Movie&page_size=100")

    assert lower["count"] == exact["count"] == Anime.objects.filter(type="Movie").count() > 200
    assert lower["results"] == exact["results"]
    assert {item["type"] for item in lower["results"]} == {"Movie"}


def test_it_filters_by_year_range_sorted_by_year(client: Client) -> None:
    items = all_pages(client, "/api/anime/?year_min=2010&year_max=2011&sort=year&page_size=100")

    assert len(items) == Anime.objects.filter(year__gte=2010, year__lte=2011).count()
    years = [item["year"] for item in items]
    assert years == sorted(years)
    assert set(years) == {2010, 2011}


def test_it_filters_by_score_range(client: Client) -> None:
    items = all_pages(client, "/api/anime/?score_min=8.5&score_max=8.7&sort=-score&page_size=100")

    assert len(items) == Anime.objects.filter(score__gte=8.5, score__lte=8.7).count() > 0
    assert all(8.5 <= item["score"] <= 8.7 for item in items)
    assert items[0]["score"] == 8.7


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("year_min=abc", "year_min", "Enter a number."),
        ("score_min=20", "score_min", "Ensure this value is less than or equal to 10."),
        ("score_min=9&score_max=8", "score_max", "Must be at least score min (9)."),
        ("year_min=2015&year_max=2010", "year_max", "Must be at least year min (2015)."),
        (
            "sort=bad",
            "sort",
            "'bad' is not a valid choice. Valid values: score, -score, members, -members, year, -year, title, -title.",
        ),
        (
            "tier=best",
            "tier",
            "'best' is not a valid choice. Valid values: top-tier, worthwhile, watchable, terrible.",
        ),
    ],
)
def test_it_answers_400_naming_the_field_for_bad_filter_values(
    client: Client, query: str, field: str, message: str
) -> None:
    assert get_json(client, f"/api/anime/?{query}", status=400) == {field: [message]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("genre=%25", {"genre": ["Unknown genre '%'. Valid values: "]}),
        ("genre=%25s%25d", {"genre": ["Unknown genre '%s%d'. Valid values: "]}),
        ("sort=%25d", {"sort": ["'%d' is not a valid choice. Valid values: "]}),
        ("type=100%25", {"type": ["'100%' is not a valid choice. Valid values: "]}),
    ],
)
def test_it_answers_400_for_values_with_percent_signs(
    client: Client, query: str, expected: dict[str, list[str]]
) -> None:
    # django-filter's own error translation formats messages with % and crashed on these.
    body = get_json(client, f"/api/anime/?{query}", status=400)
    assert list(body) == list(expected)
    field = next(iter(expected))
    assert len(body[field]) == 1 and body[field][0].startswith(expected[field][0])


def test_it_answers_400_listing_valid_genres_for_an_unknown_genre(client: Client) -> None:
    body = get_json(client, "/api/anime/?genre=Nope&exclude_genre=Action", status=400)

    valid = ", ".join(sorted(Genre.objects.values_list("name", flat=True)))
    assert body == {"genre": [f"Unknown genre 'Nope'. Valid values: {valid}."]}
    assert "Action, Adult Cast, Adventure" in valid


# ---------------------------------------------------------------------------- detail


def test_it_returns_the_full_record_of_an_anime(client: Client) -> None:
    body = get_json(client, "/api/anime/5114/")

    row = Anime.objects.get(mal_id=5114)
    thresholds = TierThresholds.objects.latest()
    names = {kind: sorted(row.genres.filter(kind=kind).values_list("name", flat=True)) for kind in Genre.Kind.values}
    assert body == {
        "mal_id": 5114,
        "title": row.title,
        "title_english": row.title_english,
        "title_japanese": row.title_japanese,
        "title_synonyms": row.title_synonyms,
        "title_other": row.title_other,
        "type": row.type,
        "episodes": row.episodes,
        "status": row.status,
        "aired_from": row.aired_from.isoformat(),
        "aired_to": row.aired_to.isoformat(),
        "year": row.year,
        "season": row.season,
        "source": row.source,
        "rating": row.rating,
        "duration": row.duration,
        "studios": row.studios,
        "score": row.score,
        "scored_by": row.scored_by,
        "rated_enough": row.score_reliable,
        "rank": row.rank,
        "popularity": row.popularity,
        "members": row.members,
        "members_as_of": row.members_as_of.isoformat(),
        "members_estimated": row.members_estimated,
        "favorites": row.favorites,
        "synopsis": row.synopsis,
        "background": row.background,
        "genres": names["genre"],
        "themes": names["theme"],
        "demographics": names["demographic"],
        "tags": sorted(row.tags.values_list("name", flat=True)),
        "tier": {
            "value": "top-tier",
            "label": "Top-tier",
            "threshold": thresholds.top_tier_min,
            "below": None,
            "scheme": thresholds.scheme,
        },
        "franchise_key": row.franchise_key,
        "relations": [
            {"mal_id": related, "relation": relation, "url": f"http://testserver/api/anime/{related}/"}
            for relation, related in row.relations.order_by("relation", "related_mal_id").values_list(
                "relation", "related_mal_id"
            )
        ],
        "episode_titles": row.episode_titles,
        "urls": {
            "mal_url": row.mal_url,
            "image_url": row.image_url,
            "site_url": "http://testserver/anime/5114/",
            "api_url": "http://testserver/api/anime/5114/",
        },
        "provenance": row.provenance,
        "fetched_at": row.fetched_at.isoformat().replace("+00:00", "Z"),
        "my_list": None,
    }
    # The values themselves, so a broken import cannot make both sides agree on nonsense.
    assert body["title"] == "Fullmetal Alchemist: Brotherhood"
    assert body["title_synonyms"] == [
        "Hagane no Renkinjutsushi: Fullmetal Alchemist",
        "Fullmetal Alchemist (2009)",
        "FMA",
        "FMAB",
    ]
    assert (body["genres"], body["themes"], body["demographics"]) == (
        ["Action", "Adventure", "Drama", "Fantasy"],
        ["Military"],
        ["Shounen"],
    )
    assert (body["episodes"], body["aired_from"], body["studios"], body["score"]) == (64, "2009-04-05", ["Bones"], 9.11)
    assert (body["rated_enough"], body["members"], body["members_as_of"]) == (True, 3613466, "2026-02-15")
    assert body["tags"] == [
        "Contemporary Fantasy",
        "Fantasy World",
        "Human Enhancement",
        "Magic",
        "Plot Continuity",
        "Steampunk",
        "Violence",
    ]
    # The 2003 series is an alternative version: one franchise, named after its first entry.
    assert {(r["relation"], r["mal_id"]) for r in body["relations"]} == {
        ("alternative", 121),
        ("side_story", 6421),
        ("side_story", 9135),
        ("spin_off", 7902),
    }
    assert body["franchise_key"] == "fullmetal-alchemist-121" == Anime.objects.get(mal_id=121).franchise_key
    assert len(body["episode_titles"]) == 64
    assert body["episode_titles"][:2] == ["Fullmetal Alchemist", "The First Day"]
    assert body["urls"]["mal_url"] == "https://myanimelist.net/anime/5114/Fullmetal_Alchemist__Brotherhood"


def test_it_gives_each_tier_its_bounds(client: Client) -> None:
    thresholds = TierThresholds.objects.latest()
    expected = {
        "top-tier": (thresholds.top_tier_min, None),
        "worthwhile": (thresholds.worthwhile_min, thresholds.top_tier_min),
        "watchable": (thresholds.watchable_min, thresholds.worthwhile_min),
        "terrible": (None, thresholds.watchable_min),
    }
    for tier, (threshold, below) in expected.items():
        anime = Anime.objects.filter(tier=tier).order_by("-members").first()
        body = get_json(client, f"/api/anime/{anime.mal_id}/")
        assert (body["tier"]["value"], body["tier"]["threshold"], body["tier"]["below"]) == (tier, threshold, below)
        assert (threshold or 0) <= body["score"] < (below or 10.01)


def test_it_gives_no_tier_to_an_unscored_anime(client: Client) -> None:
    unscored = Anime.objects.filter(score=None).order_by("mal_id").first()
    assert unscored is not None
    body = get_json(client, f"/api/anime/{unscored.mal_id}/")
    assert (body["score"], body["tier"]) == (None, None)


def test_it_answers_404_json_for_an_unknown_id(client: Client) -> None:
    assert get_json(client, "/api/anime/0/", status=404) == {"detail": "No anime with MAL id 0 in the catalogue."}


@pytest.mark.parametrize("mal_id", ["abc", "-1", "5114.0", "99999999999999999999999", "%C3%A9"])
def test_it_answers_404_json_for_a_malformed_id(client: Client, mal_id: str) -> None:
    body = get_json(client, f"/api/anime/{mal_id}/", status=404)
    assert body["detail"].startswith("No anime with MAL id ")


def test_it_gives_null_for_a_missing_cover(client: Client) -> None:
    # Shinya Doubutsuen (31508), a 2008 short film with 60 members, came from sources without a cover URL.
    assert Anime.objects.get(mal_id=31508).image_url == ""
    body = get_json(client, "/api/anime/31508/")
    assert body["urls"]["image_url"] is None
    assert body["urls"]["mal_url"] == Anime.objects.get(mal_id=31508).mal_url != ""
    listed = get_json(client, "/api/anime/?year_min=2008&year_max=2008&sort=members&page_size=100")
    assert next(item for item in listed["results"] if item["mal_id"] == 31508)["image_url"] is None


def test_it_reads_a_detail_in_a_few_queries(client: Client, django_assert_max_num_queries: Any) -> None:
    # anime, its genres, tags and relations (one query each, prefetched), the thresholds
    with django_assert_max_num_queries(5):
        get_json(client, "/api/anime/5114/")


def test_it_reads_a_list_page_in_a_few_queries(client: Client, django_assert_max_num_queries: Any) -> None:
    # the filter's genre and tag choices, the genre's id, count, the page's ids, their rows,
    # their genres (prefetched), thresholds: the same for a page of 100
    with django_assert_max_num_queries(8):
        get_json(client, "/api/anime/?genre=Action&sort=-score")
    with django_assert_max_num_queries(8):
        get_json(client, "/api/anime/?genre=Action&sort=-score&page_size=100&page=3")


# ---------------------------------------------------------------------------- genres


def test_it_lists_genres_with_kind_and_count(client: Client) -> None:
    body = get_json(client, "/api/genres/")

    assert len(body) == Genre.objects.count() == 77
    assert {g["kind"] for g in body} == {"genre", "theme", "demographic"}
    counts = dict(Genre.objects.annotate(n=Count("anime")).values_list("name", "n"))
    assert {g["name"]: g["anime_count"] for g in body} == counts
    by_name = {g["name"]: g for g in body}
    assert by_name["Action"] == {"name": "Action", "kind": "genre", "anime_count": counts["Action"]}
    assert by_name["Shounen"]["kind"] == "demographic"
    assert by_name["Military"]["kind"] == "theme"
    # Ordered by kind, then name.
    assert [(g["kind"], g["name"]) for g in body] == sorted((g["kind"], g["name"]) for g in body)


# ---------------------------------------------------------------------------- writes


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/anime/"),
        ("put", "/api/anime/5114/"),
        ("patch", "/api/anime/5114/"),
        ("delete", "/api/anime/5114/"),
        ("post", "/api/genres/"),
    ],
)
def test_it_refuses_writes_from_anonymous_users(client: Client, method: str, url: str) -> None:
    response = getattr(client, method)(url, data={"title": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert Anime.objects.get(mal_id=5114).title == "Fullmetal Alchemist: Brotherhood"


@pytest.mark.parametrize(("method", "url"), [("post", "/api/anime/"), ("delete", "/api/anime/5114/")])
def test_it_has_no_write_methods_even_for_staff(admin_client: Client, method: str, url: str) -> None:
    response = getattr(admin_client, method)(url, data={}, content_type="application/json")
    assert response.status_code == 405
    assert Anime.objects.filter(mal_id=5114).exists()


# ---------------------------------------------------------------------------- schema and docs


def test_it_documents_the_filters_in_the_schema(client: Client) -> None:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()

    operation = schema["paths"]["/api/anime/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {
        "genre",
        "exclude_genre",
        "type",
        "year_min",
        "year_max",
        "score_min",
        "score_max",
        "tier",
        "sort",
        "list",
        "tag",
        "adult",
        "page",
        "page_size",
    }
    assert set(params["list"]["schema"]["enum"]) == {"hide", "unseen", "plan-to-watch"}
    assert params["genre"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["tag"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["adult"]["schema"]["enum"] == ["include"]
    assert set(params["tier"]["schema"]["enum"]) == {"top-tier", "worthwhile", "watchable", "terrible"}
    assert "-score" in params["sort"]["schema"]["enum"]
    assert set(operation["responses"]) == {"200", "400"}
    assert set(schema["paths"]) >= {"/api/anime/", "/api/anime/{mal_id}/", "/api/genres/"}
    detail_operation = schema["paths"]["/api/anime/{mal_id}/"]["get"]
    assert set(detail_operation["responses"]) == {"200", "400", "404"}
    assert {p["name"] for p in detail_operation["parameters"]} == {"mal_id", "adult"}
    detail = schema["components"]["schemas"]["AnimeDetail"]["properties"]
    assert detail["franchise_key"]["description"].startswith(
        "Shared by the anime that a chain of prequel, sequel, parent story, side story, summary, full story, "
        "alternative version or spin-off links joins"
    )


def test_it_serves_swagger_ui_from_local_files_without_inline_code(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in html
    assert "/static/catalog/api_docs.css" in html
    assert "<style" not in html
    assert "<script>" not in html  # every script has a src: the CSP allows no inline code
    assert "script-src 'self'" in response["Content-Security-Policy"]

    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert 'url: "/api/schema/"' in script.content.decode()

    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200
