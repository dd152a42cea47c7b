"""Sign-up and sign-in with Django's own auth views; a list imported while signed out moves into
an account that has none, and an account's list is never replaced without its owner's choice."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from catalog.lists.selectors import SESSION_KEY
from catalog.models import AnimeList
from catalog.tests.test_lists import EXPORT, EXPORT_GZ


def _upload(client: Client, content: bytes | None = None) -> None:
    handle = io.BytesIO(content or EXPORT_GZ.read_bytes())
    handle.name = "animelist.xml.gz"
    assert client.post("/my-list/", {"file": handle}).status_code == 302


def _smaller_export() -> bytes:
    """The sample export without Mushishi (10 entries)."""
    return EXPORT.read_bytes().replace(
        b"<series_animedb_id>457</series_animedb_id>", b"<series_animedb_id>0</series_animedb_id>"
    )


def test_it_signs_up_and_keeps_the_visitor_s_list_in_the_new_account(catalog, client: Client):
    _upload(client)
    assert client.get("/accounts/signup/").status_code == 200
    response = client.post(
        "/accounts/signup/",
        {"username": "newfan", "password1": "a-long-password-9", "password2": "a-long-password-9"},
    )
    assert response.status_code == 302 and response["Location"] == "/my-list/"
    user = get_user_model().objects.get(username="newfan")
    stored = AnimeList.objects.get(owner=user)
    assert stored.entry_count == 11 and stored.unmatched_count == 2 and stored.mal_user_name == "example_user"
    assert stored.expires_at is None  # an account's list does not expire
    summary = client.get("/api/list/").json()["summary"]
    assert summary["stored_in"] == "account" and summary["entries"] == 11 and summary["expires_at"] is None
    assert SESSION_KEY not in client.session
    assert AnimeList.objects.count() == 1


def test_signing_in_moves_the_visitor_s_list_into_an_account_without_one(catalog, client: Client):
    user = get_user_model().objects.create_user("fan", password="a-long-password-8")
    _upload(client)
    page = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in page and "moves into it" in page
    response = client.post("/accounts/login/", {"username": "fan", "password": "a-long-password-8"})
    assert response.status_code == 302 and response["Location"] == "/my-list/"
    assert AnimeList.objects.get(owner=user).entry_count == 11
    assert "Which list should your account keep?" not in client.get("/my-list/").content.decode()
    # Signed out, the list stays with the account, not the browser.
    client.post("/accounts/logout/")
    assert client.get("/api/list/").status_code == 404
    assert AnimeList.objects.filter(owner=user).exists()


@pytest.fixture
def fan_with_a_list(catalog, client: Client):
    """A user whose account keeps the 10-entry list, and a signed-out browser that then imports
    the 11-entry one and signs in."""
    user = get_user_model().objects.create_user("fan", password="a-long-password-8")
    client.force_login(user)
    _upload(client, _smaller_export())
    client.post("/accounts/logout/")
    _upload(client)
    response = client.post("/accounts/login/", {"username": "fan", "password": "a-long-password-8"})
    assert response.status_code == 302
    return user


def test_signing_in_keeps_the_account_s_list_and_asks(fan_with_a_list, client: Client):
    assert AnimeList.objects.get(owner=fan_with_a_list).entry_count == 10
    page = client.get("/my-list/").content.decode()
    assert "Which list should your account keep?" in page
    assert "of <strong>11</strong> entries" in page and "a list of <strong>10</strong> entries" in page
    # Nothing is replaced until the person chooses.
    assert client.get("/api/list/").json()["summary"]["entries"] == 10


def test_choosing_the_imported_list_replaces_the_account_s(fan_with_a_list, client: Client):
    response = client.post("/my-list/pending/", {"keep": "imported"}, follow=True)
    assert "Your account now keeps the list you imported." in response.content.decode()
    stored = AnimeList.objects.get(owner=fan_with_a_list)
    assert stored.entry_count == 11 and stored.expires_at is None
    assert AnimeList.objects.count() == 1 and SESSION_KEY not in client.session
    assert "Which list should your account keep?" not in client.get("/my-list/").content.decode()


def test_choosing_the_account_s_list_discards_the_imported_one(fan_with_a_list, client: Client):
    response = client.post("/my-list/pending/", {"keep": "account"}, follow=True)
    assert "Your account&#x27;s list is kept." in response.content.decode()
    assert AnimeList.objects.get(owner=fan_with_a_list).entry_count == 10
    assert AnimeList.objects.count() == 1 and SESSION_KEY not in client.session


def test_a_bad_choice_is_a_400_naming_the_parameter(fan_with_a_list, client: Client):
    response = client.post("/my-list/pending/", {"keep": "both"})
    assert response.status_code == 400
    assert "The parameter &#x27;keep&#x27; must be &#x27;imported&#x27; or &#x27;account&#x27;." in (
        response.content.decode()
    )
    assert AnimeList.objects.count() == 2  # nothing chosen, nothing lost


def test_it_shows_form_errors_for_a_bad_sign_up(catalog, client: Client):
    response = client.post("/accounts/signup/", {"username": "x", "password1": "short", "password2": "other"})
    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    assert not get_user_model().objects.filter(username="x").exists()
