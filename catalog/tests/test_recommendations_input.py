"""Hostile input to the recommendations of a signed-in visitor with an imported list: a bad
``limit`` or filter value is a 400 naming the field on ``GET /api/recommendations/`` and a form
error on ``/for-you/`` (no recommendations, never a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.html import escape

from catalog.models import Genre

EXPORT_GZ = Path(__file__).parent / "data" / "animelist_1764567890_-_1234567.xml.gz"
TIERS = "top-tier, worthwhile, watchable, terrible"


def valid_genres() -> str:
    return ", ".join(sorted(Genre.objects.values_list("name", flat=True)))


@pytest.fixture
def listed(catalog, client: Client) -> Client:
    """A signed-in visitor who imported the sample export on the page."""
    client.force_login(get_user_model().objects.create_user("fan", password="a-long-password-1"))
    with EXPORT_GZ.open("rb") as export:
        response = client.post("/my-list/", {"file": export})
    assert response.status_code == 302 and response["Location"] == "/my-list/"
    assert client.get("/api/list/").json()["summary"]["stored_in"] == "account"
    return client


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-1", "Ensure this value is greater than or equal to 1."),
        ("51", "Ensure this value is less than or equal to 50."),
        ("x", "A valid integer is required."),
        ("1e400", "A valid integer is required."),
    ],
)
def test_the_api_names_a_bad_limit(listed: Client, limit: str, message: str) -> None:
    response = listed.get("/api/recommendations/", {"limit": limit})
    assert response.status_code == 400
    assert response.json() == {"limit": [message]}


def test_the_page_has_no_limit_to_get_wrong(listed: Client) -> None:
    for limit in ("0", "-1", "51", "x", "1e400"):
        response = listed.get("/for-you/", {"limit": limit})
        assert response.status_code == 200
        assert response.content.decode().count('class="recommendation"') == 12  # the page's own number


# (query, field, message); None: the message is the list of valid genres.
BAD_FILTERS = [
    pytest.param({"genre": "NoSuchGenre"}, "genre", None, id="unknown-genre"),
    pytest.param({"genre": "Action", "exclude_genre": "Nope"}, "exclude_genre", None, id="unknown-excluded-genre"),
    pytest.param(
        {"year_min": "2020", "year_max": "2000"}, "year_max", "Must be at least year min (2020).", id="years-reversed"
    ),
    pytest.param(
        {"tier": "legendary"}, "tier", f"'legendary' is not a valid choice. Valid values: {TIERS}.", id="bad-tier"
    ),
    pytest.param(
        {"list": "everything"},
        "list",
        "'everything' is not a valid choice. Valid values: hide, unseen, plan-to-watch.",
        id="bad-list",
    ),
    pytest.param(
        {"type": "Film"},
        "type",
        # One spelling per type now ("TV Special" is Special); Music, CM and PV stay valid values
        # (CATALOG_INCLUDE brings them into the catalogue).
        "'Film' is not a valid choice. Valid values: TV, Movie, OVA, ONA, Special, Music, CM, PV.",
        id="bad-type",
    ),
    pytest.param({"score_min": "nan"}, "score_min", "Enter a number.", id="score-nan"),
]


def _message(field: str, message: str | None, query: dict[str, str]) -> str:
    if message is not None:
        return message
    return f"Unknown genre {query[field]!r}. Valid values: {valid_genres()}."


@pytest.mark.parametrize(("query", "field", "message"), BAD_FILTERS)
def test_the_api_names_a_bad_filter(listed: Client, query: dict[str, str], field: str, message: str | None) -> None:
    response = listed.get("/api/recommendations/", query)
    assert response.status_code == 400
    assert response.json() == {field: [_message(field, message, query)]}


# The page names each field by its label, as the filter form shows it.
LABELS = {
    "genre": "Genres",
    "exclude_genre": "Exclude genres",
    "year_max": "To year",
    "year_min": "From year",
    "score_min": "Min score",
    "tier": "Tier",
    "type": "Type",
    "list": "My list",
}


@pytest.mark.parametrize(("query", "field", "message"), BAD_FILTERS)
def test_the_page_shows_a_bad_filter_as_a_form_error(
    listed: Client, query: dict[str, str], field: str, message: str | None
) -> None:
    response = listed.get("/for-you/", query)
    assert response.status_code == 200
    html = response.content.decode()
    alert = (
        '<div class="alert alert--error" role="alert"><ul>'
        f"<li>{LABELS[field]}: {escape(_message(field, message, query))}</li></ul></div>"
    )
    assert alert in html
    assert 'class="recommendation"' not in html


def test_a_huge_year_is_a_400_not_a_500(listed: Client) -> None:
    response = listed.get("/api/recommendations/", {"year_min": "1e400"})
    assert response.status_code == 400
    assert response.json()["year_min"][0] == "Ensure this value is less than or equal to 2100."
    page = listed.get("/for-you/", {"year_min": "1e400"})
    assert page.status_code == 200
    assert "<li>From year: Ensure this value is less than or equal to 2100.</li>" in page.content.decode()


def test_it_checks_the_values_before_looking_for_a_list(catalog, client: Client) -> None:
    # No list: the bad value is still named (a 404 would hide it).
    response = client.get("/api/recommendations/", {"tier": "legendary"})
    assert response.status_code == 400 and list(response.json()) == ["tier"]
    assert client.get("/api/recommendations/").status_code == 404


def test_good_values_still_recommend(listed: Client) -> None:
    body = listed.get("/api/recommendations/", {"limit": "3", "tier": "TOP-TIER", "list": "hide"}).json()
    assert body["count"] == 3
    assert {r["anime"]["tier"]["value"] for r in body["results"]} == {"top-tier"}
    listed_ids = {e["mal_id"] for e in listed.get("/api/list/").json()["entries"]}
    assert not {r["anime"]["mal_id"] for r in body["results"]} & listed_ids
    page = listed.get("/for-you/", {"tier": "top-tier", "type": "TV"}).content.decode()
    assert page.count('class="recommendation"') == 12 and 'class="alert alert--error"' not in page
