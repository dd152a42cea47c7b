"""Degrade, don't fail: Qdrant unreachable -> the database's keyword search answers with a
notice; broker unreachable -> requests still answer and the work is recorded for a retry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from catalog.models import Anime
from catalog.search.fallback import DEGRADED_NOTICE, search_keyword_fallback, similar_fallback
from conftest import dead_port
from evaluator.models import CommentStatus, Evaluation
from jobs.models import PendingTask
from jobs.services import pending_tasks_retry, task_dispatch
from testsupport.admin import admin_form_data

SYNOPSIS = (
    "A quiet high-school student discovers that the old shrine behind her house hides a door to a world of "
    "spirits, and each night she crosses over to help a fox god recover his lost memories."
)


@pytest.fixture
def broker_down(settings) -> Iterator[None]:
    """Celery configured for a Redis broker that is not there (eager mode off)."""
    from animesite.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.broker_url = f"redis://127.0.0.1:{dead_port()}/0"
    app.conf.task_always_eager = False
    # (kombu keeps pools per URL: the memory:// one is left open for when the URL is restored)
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved
    app._pool = None
    app.amqp._producer_pool = None


# ---------------------------------------------------------------------------- Qdrant down


def test_it_answers_the_search_page_from_the_database_when_qdrant_is_down(client: Client, catalog, qdrant_down):
    response = client.get("/search/", {"q": "Death Note"})
    assert response.status_code == 200
    page = response.content.decode()
    assert DEGRADED_NOTICE in page
    hits = response.context["results"].hits
    assert hits[0].anime.mal_id == 1535 and hits[0].title_match


def test_it_marks_api_results_degraded_and_still_finds_the_title(client: Client, catalog, qdrant_down):
    response = client.get("/api/search/", {"q": "Death Note", "limit": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] is True
    assert body["results"][0]["anime"]["mal_id"] == 1535
    assert body["results"][0]["title_match"] is True
    assert 1 <= body["count"] <= 5


def test_it_keeps_filters_in_reduced_mode(client: Client, catalog, qdrant_down):
    body = client.get("/api/search/", {"q": "notebook death", "type": "Movie", "limit": 10}).json()
    assert body["degraded"] is True and body["count"] > 0
    assert {hit["anime"]["type"] for hit in body["results"]} == {"Movie"}
    body = client.get("/api/search/", {"q": "titans walls", "genre": "Comedy", "limit": 10}).json()
    ids = [hit["anime"]["mal_id"] for hit in body["results"]]
    assert set(Anime.objects.filter(mal_id__in=ids, genres__name="Comedy").values_list("mal_id", flat=True)) == set(ids)


def test_it_ranks_plot_words_and_marks_them_in_the_snippet(catalog):
    results = search_keyword_fallback("humanity walls giants titans", limit=10)
    assert results.degraded
    ids = [hit.anime.mal_id for hit in results.hits]
    assert 16498 in ids[:3]  # Shingeki no Kyojin
    snippet = next(hit.snippet_html for hit in results.hits if hit.anime.mal_id == 16498)
    assert "<mark>" in snippet


def test_it_says_degraded_false_normally(client: Client, catalog_embeddings, catalog):
    body = client.get("/api/search/", {"q": "Death Note", "limit": 3}).json()
    assert body["degraded"] is False
    assert body["results"][0]["anime"]["mal_id"] == 1535
    page = client.get("/search/", {"q": "Death Note"}).content.decode()
    assert "reduced mode" not in page


def test_it_shows_genre_neighbours_on_the_detail_page_when_qdrant_is_down(client: Client, catalog, qdrant_down):
    response = client.get("/anime/1535/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "More like this" in page and "not available" not in page
    neighbours = similar_fallback(Anime.objects.get(mal_id=1535), limit=6)
    assert len(neighbours) == 6
    death_note = Anime.objects.get(mal_id=1535)
    assert all(hit.anime.franchise_key != death_note.franchise_key for hit in neighbours)
    own = set(death_note.genres.values_list("pk", flat=True))
    assert all(own & set(hit.anime.genres.values_list("pk", flat=True)) for hit in neighbours)
    assert neighbours[0].anime.get_absolute_url() in page


# ---------------------------------------------------------------------------- broker down


def test_it_records_an_index_batch_when_the_broker_is_down(catalog, broker_down):
    result = task_dispatch("catalog.tasks.anime_index_batch", [1535, 5114])
    assert result.sent is False
    row = PendingTask.objects.get()
    assert (row.task_name, row.args, row.kwargs, row.attempts) == (
        "catalog.tasks.anime_index_batch",
        [[1535, 5114]],
        {},
        1,
    )
    assert row.error

    # Still down: the retry keeps it and counts the attempt.
    stats = pending_tasks_retry()
    assert (stats.sent, stats.failed) == (0, 1)
    row.refresh_from_db()
    assert row.attempts == 2


def test_it_saves_an_anime_in_the_admin_while_the_broker_is_down(
    admin_client: Client, catalog, broker_down, settings, django_capture_on_commit_callbacks
):
    settings.SEARCH_AUTO_INDEX = True
    url = "/admin/catalog/anime/1535/change/"
    page = admin_client.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, admin_form_data(page, title_english="Death Note (edited)"))
    assert response.status_code == 302
    assert Anime.objects.get(mal_id=1535).title_english == "Death Note (edited)"
    row = PendingTask.objects.get()
    assert (row.task_name, row.args) == ("catalog.tasks.anime_index_batch", [[1535]])


def test_it_evaluates_while_the_broker_is_down_and_sends_the_comment_later(
    client: Client,
    active_run,
    fake_gemini,
    broker_down,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/evaluate/", {"synopsis": SYNOPSIS, "genres": ["Fantasy"]}, content_type="application/json"
        )
    assert response.status_code == 201, response.content
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert evaluation.comment_source == "offline" and evaluation.comment  # the offline comment answers
    assert evaluation.comment_status == CommentStatus.PENDING
    row = PendingTask.objects.get()
    assert (row.task_name, row.args) == ("evaluator.tasks.evaluation_comment", [str(evaluation.pk)])

    # The broker is back (here: eager mode) -> the retry sends it and Gemini's comment lands.
    from animesite.celery import app

    app.conf.task_always_eager = True
    stats = pending_tasks_retry()
    assert (stats.sent, stats.failed) == (1, 0)
    assert not PendingTask.objects.exists()
    evaluation.refresh_from_db()
    assert evaluation.comment_source == "gemini" and evaluation.comment_status == CommentStatus.FINAL


def test_it_queues_staff_reindex_while_the_broker_is_down(client: Client, catalog, broker_down, admin_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=admin_user)
    response = client.post(
        "/api/admin/reindex/",
        {"mal_ids": [1535]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 202, response.content
    assert PendingTask.objects.filter(task_name="catalog.tasks.anime_index_batch", args=[[1535]]).count() == 1


# ---------------------------------------------------------------------------- the embedded index broken or not built yet


@pytest.fixture
def own_index(settings, tmp_path) -> Iterator[Any]:
    """An embedded-engine folder of this test's own (the session's index is left alone)."""
    from catalog.search.engine import engine_reset

    engine_reset()
    settings.QDRANT_URL = ""
    settings.QDRANT_PATH = tmp_path / "search-index"
    yield settings.QDRANT_PATH
    engine_reset()


def test_it_answers_from_the_database_when_the_shard_is_damaged(
    client: Client, catalog, own_index, staff_token: str
) -> None:
    from catalog.search.engine import engine, engine_reset
    from catalog.search.index import index_base, index_format, index_schema

    with engine().building(index_base(), schema=index_schema(), format=index_format()):
        pass
    engine_reset()  # this process lets go of it; its files are then damaged on disk
    damaged = list(own_index.rglob("segment.json"))
    assert damaged
    for state in damaged:
        state.write_text("not a segment")
    response = client.get("/search/", {"q": "Death Note"})
    assert response.status_code == 200
    assert DEGRADED_NOTICE in response.content.decode()
    assert response.context["results"].hits[0].anime.mal_id == 1535
    body = client.get("/api/search/", {"q": "Death Note"}).json()
    assert body["degraded"] is True and body["notice"] == DEGRADED_NOTICE and body["index_building"] is None
    assert client.get("/anime/1535/").status_code == 200  # "more like this" from genre neighbours
    ready = client.get("/readyz", HTTP_AUTHORIZATION=f"Token {staff_token}")  # staff see the details
    assert ready.status_code == 503
    assert ready.json()["checks"]["qdrant"] == {"status": "down", "error": "EngineUnavailable"}


def test_it_says_how_far_the_first_build_is_while_answering_from_the_database(
    client: Client, catalog, own_index, staff_token: str
) -> None:
    from catalog.models import IndexBuild
    from catalog.search.index import index_build_claim

    build = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=build.pk).update(done=build.total * 42 // 100)
    notice = "The search index is being built (42% done)"
    assert notice in client.get("/search/").content.decode()  # before any query too
    response = client.get("/search/", {"q": "Death Note"})
    assert response.status_code == 200
    assert notice in response.content.decode()
    assert response.context["results"].hits[0].anime.mal_id == 1535
    body = client.get("/api/search/", {"q": "Death Note"}).json()
    assert body["degraded"] is True and body["index_building"] == 42 and notice in body["notice"]
    ready = client.get("/readyz", HTTP_AUTHORIZATION=f"Token {staff_token}").json()  # staff see the details
    assert ready["status"] == "starting" and ready["checks"]["qdrant"]["building"] == 42


def test_the_search_page_says_only_the_popular_slice_is_searched_until_the_whole_catalogue_is(
    client: Client, catalog, own_index
) -> None:
    from catalog.models import IndexBuild
    from catalog.search.engine import engine
    from catalog.search.index import POPULAR, index_base, index_build_claim, index_format, index_schema

    with engine().building(index_base(), schema=index_schema(), format=index_format() + POPULAR):
        pass
    build = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=build.pk).update(done=build.total * 3 // 10)
    notice = "Search covers the popular anime for now: the rest of the catalogue is being indexed (30% done)"
    assert notice in client.get("/search/").content.decode()
    IndexBuild.objects.filter(pk=build.pk).update(status=IndexBuild.Status.SUCCEEDED)
    with engine().building(index_base(), schema=index_schema(), format=index_format()):
        pass
    assert "Search covers the popular anime" not in client.get("/search/").content.decode()
