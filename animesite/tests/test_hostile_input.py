"""Hostile values in every number, id, JSON body and repeatable parameter: each is a 400 naming
the field in the API and a form error on the pages, never a 500 (each case here was a 500, or a
second message about "1e+50", before). List exports are in catalog/tests/test_list_parsing.py."""

from __future__ import annotations

import io
import math

import pytest
from django.core.cache import cache
from django.test import Client

from animesite.parsers import MAX_DEPTH, NOT_FINITE, SURROGATE, TOO_DEEP
from catalog.filters import MAX_REPEATED
from catalog.lists import samples
from catalog.models import Anime, Genre

BIG = str(2**63)
HUGE_VALUES = ["1e400", "-1e400", BIG, str(-(2**63)), "9" * 5000]
SYNOPSIS = "A boy finds a notebook that kills anyone whose name is written in it, and plays god."
PAGE_SIZE = 24


@pytest.fixture
def api(catalog) -> Client:
    """A visitor with a list (so /api/recommendations/ validates instead of answering 404)."""
    client = Client()
    upload = io.BytesIO(samples.export_sample(2, ids=[1535, 457]))
    upload.name = "animelist.xml"
    assert client.post("/my-list/", {"file": upload}).status_code == 302
    return client


def filter_message(field: str, value: str) -> str:
    low, high = {"year": (1900, 2100), "score": (0, 10)}[field.split("_")[0]]
    if value.startswith("-"):
        return f"Ensure this value is greater than or equal to {low}."
    return f"Ensure this value is less than or equal to {high}."


def page_message(value: str, pages: int) -> str:
    if value == BIG:
        return f"Page {BIG} does not exist: these results have {pages} pages."
    return f"{value!r} is not a page number: use a whole number from 1 to {pages}."


def recommendations_limit_message(value: str) -> str:
    return {
        "1e400": "A valid integer is required.",
        "-1e400": "A valid integer is required.",
        BIG: "Ensure this value is less than or equal to 50.",
        str(-(2**63)): "Ensure this value is greater than or equal to 1.",
        "9" * 5000: "String value too large.",
    }[value]


SEARCH_LIMIT = "Must be a whole number from 1 to 50."


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", HUGE_VALUES, ids=["1e400", "-1e400", "2^63", "-2^63", "5000-digits"])
def test_it_answers_a_huge_number_in_every_api_number_field_with_a_400_naming_it(api: Client, value: str):
    pages = math.ceil(Anime.objects.count() / PAGE_SIZE)
    cases = [
        *[
            ("/api/anime/", field, filter_message(field, value))
            for field in ("year_min", "year_max", "score_min", "score_max")
        ],
        *[("/api/search/", field, filter_message(field, value)) for field in ("year_min", "score_max")],
        *[("/api/recommendations/", field, filter_message(field, value)) for field in ("year_max", "score_min")],
        ("/api/anime/", "page", page_message(value, pages)),
        ("/api/search/", "limit", SEARCH_LIMIT),
        ("/api/anime/1535/similar/", "limit", SEARCH_LIMIT),
        ("/api/recommendations/", "limit", recommendations_limit_message(value)),
    ]
    for url, field, message in cases:
        cache.clear()  # the throttles
        response = api.get(url, {field: value, "q": "death note"})
        assert (response.status_code, response.json()) == (400, {field: [message]}), (url, field)


@pytest.mark.parametrize("value", ["1e400", BIG, "-1e400"])
def test_it_shows_a_huge_number_as_one_form_error_on_the_pages(api: Client, value: str):
    message = filter_message("year_min", value)
    # Browse shows it above the results and next to the field; search and "for you" above them.
    for url, times in (("/anime/", 2), ("/search/", 1), ("/for-you/", 1)):
        html = api.get(url, {"year_min": value, "q": "death note"}).content.decode()
        assert html.count(message) == times, url
        assert "1e+50" not in html


@pytest.mark.usefixtures("active_run")
@pytest.mark.parametrize("field", ["episodes", "year", "duration"])
def test_it_answers_a_huge_number_in_the_evaluator_with_a_400_naming_it(client: Client, settings, field: str):
    settings.EVALUATOR_COMMENT_BACKEND = "offline"
    low, high = {"episodes": (1, 3000), "duration": (1, 300), "year": (1917, None)}[field]
    from evaluator.inputs import year_max

    high = high or year_max()
    for raw, message in [
        ("1e400", NOT_FINITE),  # JSON reads it as infinity
        ("-1e400", NOT_FINITE),
        (BIG, f"Must be between {low} and {high}."),
        (str(-(2**63)), f"Must be between {low} and {high}."),
        ('"1e400"', f"Must be a whole number between {low} and {high}."),
    ]:
        cache.clear()
        body = f'{{"synopsis": "{SYNOPSIS}", "genres": ["Action"], "{field}": {raw}}}'
        response = client.post("/api/evaluate/", body, content_type="application/json")
        assert (response.status_code, response.json()) == (400, {field: [message]}), raw
    page = client.post("/evaluate/", {"synopsis": SYNOPSIS, "genres": ["Action"], field: "1e400"})
    assert f"Must be a whole number between {low} and {high}." in page.content.decode()
    assert page.context["errors"] == {field: [f"Must be a whole number between {low} and {high}."]}


# ---------------------------------------------------------------------------- ids


def test_it_refuses_an_anime_id_beyond_the_column_everywhere(catalog, admin_client: Client, client: Client):
    response = admin_client.post("/api/admin/reindex/", {"mal_ids": [2**63]}, content_type="application/json")
    assert (response.status_code, response.json()) == (
        400,
        {"mal_ids": {"0": ["Ensure this value is less than or equal to 2147483647."]}},
    )
    for url in (f"/api/anime/{BIG}/", f"/api/anime/{BIG}/similar/"):
        response = client.get(url)
        assert (response.status_code, response.json()) == (
            404,
            {"detail": f"No anime with MAL id {str(BIG)[:40]} in the catalogue."},
        )
    assert client.get(f"/anime/{BIG}/").status_code == 404
    for action in ("change", "delete", "history"):
        response = admin_client.get(f"/admin/catalog/anime/{BIG}/{action}/", follow=True)
        assert [str(m) for m in response.context["messages"]] == [
            f"anime with ID “{BIG}” doesn’t exist. Perhaps it was deleted?"
        ]
    for params in ({"mal_id__exact": BIG}, {"q": BIG}):
        listing = admin_client.get("/admin/catalog/anime/", params)
        assert listing.status_code == 200 and listing.context["cl"].result_count == 0


# ---------------------------------------------------------------------------- JSON bodies

EVALUATE_URLS = ("/api/evaluate/", "/compat/anime/evaluate")
FILLER = "x" * 40


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f'{{"synopsis": "\\ud800{FILLER}", "genres": []}}', {"synopsis": [SURROGATE]}),
        (f'{{"synopsis": "{SYNOPSIS}", "genres": ["Action", "\\udfff"]}}', {"genres": [SURROGATE]}),
        (f'{{"\\ud800": 1, "synopsis": "{SYNOPSIS}", "genres": []}}', {"non_field_errors": [SURROGATE]}),
        ('"\\ud800"', {"non_field_errors": [SURROGATE]}),
        (f'{{"synopsis": "{SYNOPSIS}", "genres": [1e400]}}', {"genres": [NOT_FINITE]}),
        ("[" * 50_000, {"detail": TOO_DEEP}),
        ('{"synopsis": ' + "[" * 50_000, {"detail": TOO_DEEP}),
        ('{"a":' * 30_000 + "1" + "}" * 30_000, {"detail": TOO_DEEP}),
        ('{"genres": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}", {"detail": TOO_DEEP}),
        (
            f'{{"synopsis": "{SYNOPSIS}", "genres": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}",
            {"genres": ["Must be a list of genre names."]},
        ),
    ],
    ids=[
        "surrogate-synopsis",
        "surrogate-genre",
        "surrogate-key",
        "surrogate-body",
        "infinite-number",
        "50000-brackets",
        "50000-brackets-in-a-field",
        "30000-objects",
        "just-too-deep",
        "deep-enough-for-the-field-to-answer",
    ],
)
def test_it_answers_a_hostile_json_body_with_a_400(catalog, client: Client, body: str, expected: dict):
    for url in EVALUATE_URLS:
        cache.clear()
        response = client.post(url, body, content_type="application/json")
        assert (response.status_code, response.json()) == (400, expected), url


def test_staff_endpoints_get_the_same_json_parser(catalog, admin_client: Client):
    for url in ("/api/admin/reindex/", "/api/admin/crawl/"):  # retrain reads no body
        response = admin_client.post(url, "[" * 50_000, content_type="application/json")
        assert (response.status_code, response.json()) == (400, {"detail": TOO_DEEP}), url
    response = admin_client.post("/api/admin/crawl/", '{"spider": "\\ud800"}', content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"spider": [SURROGATE]})


# ---------------------------------------------------------------------------- repeated parameters


def test_it_filters_on_every_genre_at_once_without_a_join_per_genre(catalog, client: Client):
    """Before: 32 genres joined the table 32 times, past SQLite's 64 tables: a 500."""
    names = sorted(Genre.objects.values_list("name", flat=True))
    assert len(names) < MAX_REPEATED
    for query in (Anime.objects.with_all_genres(names), Anime.objects.without_genres(names)):
        assert str(query.query).count('"catalog_anime_genres"') == 1
    response = client.get("/api/anime/", {"genre": names})
    assert (response.status_code, response.json()["count"]) == (200, 0)
    for url in ("/anime/", "/search/"):
        assert client.get(url, {"genre": names, "q": "death note"}).status_code == 200
    # All of two genres, any case, against the rows themselves.
    both = {
        a.mal_id
        for a in Anime.objects.prefetch_related("genres")
        if {"Action", "Comedy"} <= {g.name for g in a.genres.all()}
    }
    response = client.get("/api/anime/", {"genre": ["action", "COMEDY", "Action"], "page_size": 100})
    assert response.json()["count"] == len(both)
    # Excluding 40 names keeps the anime with none of them.
    excluded = set(names[:40])
    kept = {
        a.mal_id for a in Anime.objects.prefetch_related("genres") if not excluded & {g.name for g in a.genres.all()}
    }
    response = client.get("/api/anime/", {"exclude_genre": sorted(excluded), "page_size": 100})
    assert response.json()["count"] == len(kept)


def test_a_search_filters_on_every_genre_in_the_index_and_in_reduced_mode(search_index: str, client: Client):
    names = sorted(Genre.objects.values_list("name", flat=True))
    response = client.get("/api/search/", {"q": "death note", "genre": names})
    assert (response.status_code, response.json()["count"]) == (200, 0)  # no anime has every genre
    # Excluding every genre leaves the anime that have none (1,806 of the whole catalogue).
    genreless = set(Anime.objects.filter(genres=None).values_list("mal_id", flat=True))
    assert len(genreless) > 1_000
    body = client.get("/api/search/", {"q": "death note", "exclude_genre": names}).json()
    assert body["count"] == 10 and {hit["anime"]["mal_id"] for hit in body["results"]} <= genreless
    html = client.get("/search/", {"q": "death note", "genre": names}).content.decode()
    assert 'class="hit"' not in html


def test_it_refuses_more_repeated_values_than_there_are_names(catalog, client: Client):
    too_many = ["Action"] * (MAX_REPEATED + 1)
    message = f"At most {MAX_REPEATED} genre names (you sent {MAX_REPEATED + 1})."
    for url in ("/api/anime/", "/api/search/"):
        for name in ("genre", "exclude_genre"):
            response = client.get(url, {name: too_many, "q": "death note"})
            assert (response.status_code, response.json()) == (400, {name: [message]}), (url, name)
    html = client.get("/anime/", {"genre": too_many}).content.decode()
    assert html.count(message) == 2
