from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.slow


def test_it_renders_the_search_page_without_javascript(search_index: str, client: Client) -> None:
    response = client.get("/search/", {"q": "notebook that kills anyone whose name is written in it"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<form id="search-form"' in html and 'method="get"' in html
    assert 'hx-trigger="input delay:300ms from:#search-q' in html
    assert 'hx-sync="this:replace"' in html and 'hx-push-url="true"' in html
    assert '<h2 class="hit__title"><a href="/anime/1535/">Death Note</a>' in html
    assert (
        '<p class="hit__snippet">Light stumbles upon it, deeming the first of its rules ridiculous: the human '
        "<mark>whose</mark> <mark>name</mark> is <mark>written</mark> in this note shall die.</p>"
    ) in html
    assert "https://myanimelist.net/anime/1535" in html
    assert "style=" not in html and "<script>" not in html


def test_it_returns_only_the_results_partial_to_htmx(search_index: str, client: Client) -> None:
    response = client.get("/search/", {"q": "frieren"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert "Sousou no Frieren" in html
    assert "+1 related" in html
    assert "title match" in html


def test_it_shows_the_start_state_for_an_empty_query(catalog, client: Client) -> None:
    html = client.get("/search/").content.decode()
    assert "Try:" in html
    assert "alert--error" not in html


def test_it_shows_filter_errors_instead_of_failing(catalog, client: Client) -> None:
    response = client.get("/search/", {"q": "titan", "year_min": "abc", "genre": "Nonsense"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "The search could not run." in html
    assert "Unknown genre &#x27;Nonsense&#x27;" in html


def test_it_shows_the_empty_state(search_index: str, client: Client) -> None:
    html = client.get("/search/", {"q": "frieren", "year_min": "1900", "year_max": "1901"}).content.decode()
    assert "No anime match “frieren” with these filters." in html


def test_it_shows_more_like_this_on_the_detail_page(search_index: str, client: Client) -> None:
    html = client.get("/anime/16498/").content.decode()
    assert "More like this" in html
    section = html.split("More like this", 1)[1]
    assert section.count('class="similar__item"') == 6
    assert "/anime/25777/" not in section  # a season of its own franchise
