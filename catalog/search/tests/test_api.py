from __future__ import annotations

import re

import pytest
from django.test import Client

from catalog.models import Anime

pytestmark = pytest.mark.slow


def test_it_searches_through_the_api(search_index: str, client: Client) -> None:
    response = client.get("/api/search/", {"q": "frieren", "limit": 3})
    assert response.status_code == 200
    body = response.json()
    assert (body["query"], body["mode"], body["fold"], body["count"]) == ("frieren", "hybrid", True, 3)
    first = body["results"][0]
    assert first["rank"] == 1
    assert first["title_match"] is True
    assert first["anime"]["mal_id"] == 52991
    assert first["anime"]["title"] == "Sousou no Frieren"
    assert {"mal_id": 59978, "title": "Sousou no Frieren 2nd Season", "type": "TV"}.items() <= next(
        r for r in first["related"] if r["mal_id"] == 59978
    ).items()
    assert first["snippet"]


def test_it_filters_api_results_inside_the_index(search_index: str, client: Client) -> None:
    response = client.get(
        "/api/search/", {"q": "magic school", "genre": "romance", "tier": "top-tier", "limit": 5, "mode": "dense"}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 5
    for result in results:
        assert "Romance" in result["anime"]["genres"]
        assert result["anime"]["tier"]["value"] == "top-tier"


def test_it_filters_search_on_tags_in_the_api_and_on_the_page(search_index: str, client: Client) -> None:
    tagged = set(Anime.objects.filter(tags__name="Bounty Hunter").values_list("mal_id", flat=True))
    body = client.get("/api/search/", {"q": "space cowboys", "tag": "bounty hunter"}).json()
    found = [result["anime"]["mal_id"] for result in body["results"]]
    assert len(found) == 10 and set(found) <= tagged and 1 in found  # Cowboy Bebop holds the tag
    html = client.get("/search/", {"q": "space cowboys", "tag": "Bounty Hunter"}).content.decode()
    on_page = [int(m) for m in re.findall(r'<h2 class="hit__title"><a href="/anime/(\d+)/">', html)]
    assert on_page[: len(found)] == found and set(on_page) <= tagged  # the page shows 20


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({}, "q", "1 to 1,000 characters"),
        ({"q": "   "}, "q", "1 to 1,000 characters"),
        ({"q": "x" * 1001}, "q", "At most 1,000 characters"),
        ({"q": "titan", "genre": "Nonsense"}, "genre", "Valid values:"),
        ({"q": "titan", "year_min": "abc"}, "year_min", "number"),
        ({"q": "titan", "score_min": "11"}, "score_min", "10"),
        ({"q": "titan", "limit": "0"}, "limit", "1 to 50"),
        ({"q": "titan", "limit": "many"}, "limit", "1 to 50"),
        ({"q": "titan", "mode": "magic"}, "mode", "hybrid, dense, sparse"),
        ({"q": "titan", "fold": "maybe"}, "fold", "1, 0, true, false"),
        ({"q": "titan", "tier": "best"}, "tier", "top-tier"),
        ({"q": "titan", "tag": "Not A Tag"}, "tag", "Valid values:"),
        ({"q": "titan", "adult": "yes"}, "adult", "Valid values: include"),
    ],
)
def test_it_rejects_bad_parameters_with_400(catalog, client: Client, params: dict, field: str, fragment: str) -> None:
    response = client.get("/api/search/", params)
    assert response.status_code == 400
    body = response.json()
    assert field in body
    assert fragment.lower() in " ".join(body[field]).lower()


def test_it_names_valid_genres_in_the_error(catalog, client: Client) -> None:
    body = client.get("/api/search/", {"q": "titan", "genre": "Nonsense"}).json()
    assert "'Nonsense'" in body["genre"][0]
    assert "Romance" in body["genre"][0]


def test_it_lists_similar_anime_outside_the_franchise(search_index: str, client: Client) -> None:
    response = client.get("/api/anime/5114/similar/", {"limit": 5})
    assert response.status_code == 200
    body = response.json()
    assert (body["mal_id"], body["count"]) == (5114, 5)
    ids = [r["anime"]["mal_id"] for r in body["results"]]
    assert not {121, 430, 5114, 6421, 9135} & set(ids)
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]


def test_it_answers_404_and_400_for_similar(catalog, client: Client) -> None:
    assert client.get("/api/anime/999999999/similar/").status_code == 404
    response = client.get("/api/anime/5114/similar/", {"limit": "x"})
    assert response.status_code == 400
    assert "limit" in response.json()


def test_it_documents_the_search_endpoints(catalog, client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/search/" in schema
    assert "/api/anime/{mal_id}/similar/" in schema
