"""Where a visitor's list lives and who can write it: a signed-out visitor's list is a table row
their session points to (small session, expiry cleaned by beat); a cookie write needs the CSRF
token, signed in or not; the API never starts a session; writes from another site are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from catalog.lists.services import anime_lists_expire
from catalog.models import AnimeList, AnimeListEntry
from catalog.tests.test_lists import EXPORT, EXPORT_GZ, _named, export_xml, upload


@pytest.fixture
def visitor(catalog) -> Client:
    """A signed-out visitor with CSRF checks on (as a browser is), who imported the sample export
    on the page with the form's token."""
    client = Client(enforce_csrf_checks=True)
    client.get("/my-list/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/my-list/", {"file": _named(EXPORT_GZ.read_bytes(), "a.xml.gz"), "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    return client


def test_the_api_never_starts_a_session(catalog, client: Client):
    response = upload(client, EXPORT_GZ.read_bytes())
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Signed out, a list is kept in the session of a browser visit")
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Session.objects.count() == 0 and AnimeList.objects.count() == 0


def test_a_cookie_write_without_the_csrf_token_is_refused(visitor: Client):
    before = visitor.get("/api/list/").json()
    evil = export_xml({1: "completed"})
    assert upload(visitor, evil, name="evil.xml").status_code == 403
    assert visitor.delete("/api/list/").status_code == 403
    assert visitor.post("/my-list/clear/").status_code == 403
    assert visitor.get("/api/list/").json() == before
    # With the token, as the site's own pages send it, the same writes work.
    token = visitor.cookies["csrftoken"].value
    response = visitor.post("/api/list/", {"file": _named(evil, "mine.xml")}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201 and response.json()["summary"]["entries"] == 1
    assert visitor.delete("/api/list/", HTTP_X_CSRFTOKEN=token).status_code == 204


def test_a_signed_in_cookie_write_needs_the_token_too(catalog):
    user = get_user_model().objects.create_user("fan", password="a-long-password-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert upload(client, EXPORT_GZ.read_bytes()).status_code == 403
    assert not AnimeList.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},  # another port or subdomain of the same site
        {"HTTP_ORIGIN": "http://evil.example"},
        {"HTTP_ORIGIN": "null"},
    ],
    ids=["cross-site", "same-site", "other-origin", "null-origin"],
)
def test_writes_a_browser_marks_as_cross_site_are_refused(catalog, client: Client, headers):
    client.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")})
    before = AnimeListEntry.objects.count()
    page = client.post("/my-list/clear/", **headers)
    assert page.status_code == 403 and "Writes from another site are refused." in page.content.decode()
    api = client.delete("/api/list/", **headers)
    assert api.status_code == 403 and api.json() == {"detail": "Writes from another site are refused."}
    assert client.post("/api/evaluate/", {}, content_type="application/json", **headers).status_code == 403
    assert AnimeListEntry.objects.count() == before == 11


def test_same_origin_writes_and_programs_pass_the_guard(catalog, client: Client):
    client.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")})
    origin = {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"}
    assert client.post("/my-list/clear/", **origin).status_code == 302
    assert not AnimeList.objects.exists()


def test_a_signed_out_list_keeps_the_session_row_small(catalog, client: Client):
    big = export_xml({mal_id: "completed" for mal_id in range(1, 5001)})
    assert client.post("/my-list/", {"file": _named(big, "big.xml")}).status_code == 302
    stored = AnimeList.objects.get()
    assert stored.owner is None and stored.entries.count() == 5000
    row = Session.objects.get(session_key=client.session.session_key)
    assert len(row.session_data) < 300


def test_expired_signed_out_lists_and_sessions_are_deleted(catalog, client: Client):
    user = get_user_model().objects.create_user("keeper", password="a-long-password-2")
    client.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")})
    fresh = AnimeList.objects.get()
    old = Client()
    old.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")})
    expired = AnimeList.objects.exclude(pk=fresh.pk).get()
    AnimeList.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    Session.objects.filter(session_key=old.session.session_key).update(expire_date=timezone.now() - timedelta(days=1))
    owned = Client()
    owned.force_login(user)
    owned.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")})

    assert anime_lists_expire() == (1, 1)
    assert set(AnimeList.objects.values_list("pk", flat=True)) == {fresh.pk, AnimeList.objects.get(owner=user).pk}
    assert not AnimeListEntry.objects.filter(anime_list_id=expired.pk).exists()
    # An expired list is gone for its visitor even before beat runs.
    AnimeList.objects.filter(pk=fresh.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/list/").status_code == 404
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "catalog.tasks.anime_lists_expire" in schedule
