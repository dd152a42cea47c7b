"""Sign-up and sign-in with Django's own auth views; a list imported while signed out moves into
the account."""

from __future__ import annotations

import io

from django.contrib.auth import get_user_model
from django.test import Client

from catalog.models import AnimeList
from catalog.tests.test_lists import EXPORT_GZ


def _upload(client: Client) -> None:
    handle = io.BytesIO(EXPORT_GZ.read_bytes())
    handle.name = "animelist.xml.gz"
    assert client.post("/api/list/", {"file": handle}).status_code == 201


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
    summary = client.get("/api/list/").json()["summary"]
    assert summary["stored_in"] == "account" and summary["entries"] == 11
    assert "anime_list" not in client.session


def test_signing_in_replaces_the_account_s_list_with_the_one_just_imported(catalog, client: Client):
    user = get_user_model().objects.create_user("fan", password="a-long-password-8")
    _upload(client)
    page = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in page and "moves into it" in page
    response = client.post("/accounts/login/", {"username": "fan", "password": "a-long-password-8"})
    assert response.status_code == 302 and response["Location"] == "/my-list/"
    assert AnimeList.objects.get(owner=user).entry_count == 11
    # Signed out, the list stays with the account, not the browser.
    client.post("/accounts/logout/")
    assert client.get("/api/list/").status_code == 404
    assert AnimeList.objects.filter(owner=user).exists()


def test_it_shows_form_errors_for_a_bad_sign_up(catalog, client: Client):
    response = client.post("/accounts/signup/", {"username": "x", "password1": "short", "password2": "other"})
    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    assert not get_user_model().objects.filter(username="x").exists()
