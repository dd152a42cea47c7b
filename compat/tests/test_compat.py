"""The /compat/ API returns exactly the original project's shapes."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from catalog.models import Anime, Genre
from compat.api import aired_display

SEARCH_KEYS = {"Name", "Synopsis", "Genres", "ID", "Type", "Score", "Episode", "Aired", "Matching_score"}
SYNOPSIS = (
    "A quiet high-school student discovers that the old shrine behind her house hides a door to a world of "
    "spirits, and each night she crosses over to help a fox god recover his lost memories."
)


def test_it_answers_status_good(client: Client) -> None:
    response = client.get("/compat/status")
    assert response.status_code == 200
    assert response.json() == {"status": "good"}


def test_it_lists_sorted_genre_names(client: Client, catalog) -> None:
    body = client.get("/compat/anime/genres").json()
    assert list(body) == ["genres"]
    names = list(Genre.objects.values_list("name", flat=True))
    assert body["genres"] == sorted(names) and len(names) > 40
    assert all(isinstance(name, str) for name in body["genres"])


def test_it_searches_with_the_original_shape(client: Client, catalog_embeddings, catalog) -> None:
    response = client.get("/compat/anime/search", {"q": "Death Note"})
    assert response.status_code == 200
    hits = response.json()
    assert isinstance(hits, list) and 1 <= len(hits) <= 15
    for hit in hits:
        assert set(hit) == SEARCH_KEYS
        assert isinstance(hit["Name"], str) and isinstance(hit["Synopsis"], str) and isinstance(hit["Type"], str)
        assert isinstance(hit["Genres"], list) and all(isinstance(g, str) for g in hit["Genres"])
        assert isinstance(hit["ID"], int) and not isinstance(hit["ID"], bool)
        assert hit["Score"] is None or isinstance(hit["Score"], float)
        assert hit["Episode"] is None or isinstance(hit["Episode"], int)
        assert hit["Aired"] is None or isinstance(hit["Aired"], str)
        assert isinstance(hit["Matching_score"], float)
    first = hits[0]
    death_note = Anime.objects.get(mal_id=1535)
    assert first == {
        "Name": "Death Note",
        "Synopsis": death_note.synopsis,
        "Genres": [g.name for g in death_note.genres.all()],
        "ID": 1535,
        "Type": "TV",
        "Score": death_note.score,
        "Episode": 37,
        "Aired": "Oct 2006 - Jun 2007",
        "Matching_score": first["Matching_score"],
    }
    scores = [hit["Matching_score"] for hit in hits[1:]]
    assert scores == sorted(scores, reverse=True)


def test_it_returns_fifteen_results_for_a_plot(client: Client, catalog_embeddings, catalog) -> None:
    hits = client.get("/compat/anime/search", {"q": "a boy fights demons with a sword"}).json()
    assert len(hits) == 15
    assert len({hit["ID"] for hit in hits}) == 15


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "This parameter is required."),
        ({"q": "   "}, "This parameter is required."),
        ({"q": "x" * 1001}, "Must be at most 1,000 characters (got 1,001)."),
        ({"q": "death\x00note"}, "Must not contain NUL characters."),
    ],
)
def test_it_rejects_a_missing_or_bad_query(client: Client, catalog, params, message) -> None:
    response = client.get("/compat/anime/search", params)
    assert response.status_code == 400
    assert response.json() == {"q": [message]}


def test_it_formats_aired_dates() -> None:
    assert aired_display(date(2009, 4, 5), date(2010, 7, 4)) == "Apr 2009 - Jul 2010"
    assert aired_display(date(2016, 8, 26), date(2016, 8, 26)) == "Aug 2016"
    assert aired_display(date(2023, 9, 29), None, airing=True) == "Sep 2023 - ?"
    assert aired_display(date(2023, 9, 29), None) == "Sep 2023"
    assert aired_display(None, None) is None


def test_it_evaluates_with_the_original_shape(client: Client, active_run) -> None:
    response = client.post(
        "/compat/anime/evaluate",
        {"synopsis": SYNOPSIS, "genres": ["Fantasy", "Romance"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"label_id", "label", "confidence", "comment"}
    labels = ["Top-tier", "Worthwhile", "Watchable", "Terrible"]
    assert isinstance(body["label_id"], int) and 0 <= body["label_id"] <= 3
    assert body["label"] == labels[body["label_id"]]
    assert isinstance(body["confidence"], float) and 0.25 <= body["confidence"] <= 1.0
    assert isinstance(body["comment"], str) and len(body["comment"]) > 40

    # The same numbers as the site's own API for the same input.
    site = client.post(
        "/api/evaluate/", {"synopsis": SYNOPSIS, "genres": ["Fantasy", "Romance"]}, content_type="application/json"
    ).json()
    assert site["tier_label"] == body["label"]
    assert site["probabilities"][site["tier"]] == pytest.approx(body["confidence"], abs=1e-6)
    assert site["comment"] == body["comment"]


def test_it_needs_no_csrf_token(active_run) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/compat/anime/evaluate", {"synopsis": SYNOPSIS, "genres": []}, content_type="application/json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"genres": []}, {"synopsis": ["This field is required."]}),
        ({"synopsis": SYNOPSIS}, {"genres": ["This field is required (a list of genre names, possibly empty)."]}),
        ({"synopsis": SYNOPSIS, "genres": "Action"}, {"genres": ["Must be a list of genre names."]}),
        ({"synopsis": "too short", "genres": []}, {"synopsis": ["Write at least 30 characters (got 9)."]}),
        ({"synopsis": 42, "genres": []}, {"synopsis": ["Must be text."]}),
    ],
)
def test_it_rejects_bad_evaluate_input_naming_the_field(client: Client, active_run, body, errors) -> None:
    response = client.post("/compat/anime/evaluate", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == errors


def test_it_rejects_unknown_genres_and_non_objects(client: Client, active_run) -> None:
    response = client.post(
        "/compat/anime/evaluate", {"synopsis": SYNOPSIS, "genres": ["Nope"]}, content_type="application/json"
    )
    assert response.status_code == 400 and list(response.json()) == ["genres"]
    assert "Nope" in response.json()["genres"][0]
    response = client.post("/compat/anime/evaluate", [1, 2], content_type="application/json")
    assert response.status_code == 400 and response.json() == {"detail": "Send a JSON object."}
    response = client.post("/compat/anime/evaluate", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_it_documents_the_compat_endpoints_in_the_schema(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in ("/compat/status", "/compat/anime/search", "/compat/anime/evaluate", "/compat/anime/genres"):
        assert path in paths
    item = paths["/compat/anime/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert item["type"] == "array"
    ref = item["items"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == SEARCH_KEYS
    evaluate = paths["/compat/anime/evaluate"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    ref = evaluate["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"label_id", "label", "confidence", "comment"}
    request = paths["/compat/anime/evaluate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    ref = request["$ref"].rsplit("/", 1)[-1]
    # Its own component, not the evaluator API's request (which has more fields).
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"synopsis", "genres"}
