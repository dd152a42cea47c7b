"""The index follows the catalogue: writes enqueue ``anime_index_batch`` on commit; a real
Celery worker on the local Redis indexes new anime. The tests that write to the index work on a
copy of their own (``own_search_index``)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings

from catalog.models import Anime
from catalog.records import AnimeRecord
from catalog.search import freshness
from catalog.search.engine import engine
from catalog.search.service import search_anime
from catalog.services import anime_upsert
from conftest import BrokerQueue

NEW_ID = 990_001
NEW_SYNOPSIS = (
    "A retired lighthouse keeper trains a colony of octopuses to play chess, and together they "
    "challenge the grandmasters of a stormy fishing island."
)


def _record(mal_id: int = NEW_ID, synopsis: str = NEW_SYNOPSIS) -> AnimeRecord:
    return AnimeRecord(
        mal_id=mal_id,
        fields={
            "title": "Tako no Shougi",
            "type": "TV",
            "year": 2024,
            "synopsis": synopsis,
            "members": 123_456,
            "score": 7.5,
        },
        genres=[("Comedy", "genre")],
        source="test",
    )


class _Spy:
    """Stands in for the ``anime_index_batch`` task: records the batches sent."""

    name = "catalog.tasks.anime_index_batch"

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def delay(self, ids: list[int]) -> None:
        self.batches.append(list(ids))

    def apply_async(self, args: tuple = (), kwargs: dict | None = None, **options: object) -> None:
        self.batches.append(list(args[0]))


@pytest.fixture
def spy(monkeypatch, settings) -> _Spy:
    from celery import current_app

    settings.SEARCH_AUTO_INDEX = True
    spy = _Spy()
    # Writes name the task (jobs.services.task_dispatch looks it up in Celery's registry).
    monkeypatch.setitem(current_app.tasks, spy.name, spy)
    return spy


def test_it_enqueues_a_created_anime_after_commit(catalog, spy: _Spy, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        anime_upsert(record=_record())
        assert spy.batches == []  # nothing before the commit
    assert len(callbacks) == 1
    assert spy.batches == [[NEW_ID]]


def test_it_enqueues_only_changes_to_indexed_fields(catalog, spy: _Spy, django_capture_on_commit_callbacks) -> None:
    anime = Anime.objects.get(mal_id=1535)
    unindexed = AnimeRecord(mal_id=1535, fields={"favorites": (anime.favorites or 0) + 1}, source=anime.provenance)
    with django_capture_on_commit_callbacks(execute=True):
        anime_upsert(record=unindexed)
    assert spy.batches == []
    indexed = AnimeRecord(mal_id=1535, fields={"synopsis": anime.synopsis + " New."}, source=anime.provenance)
    with django_capture_on_commit_callbacks(execute=True):
        anime_upsert(record=indexed)
    assert spy.batches == [[1535]]


def test_it_batches_many_ids_into_few_tasks(spy: _Spy, django_capture_on_commit_callbacks, db) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        freshness.index_on_commit(range(1, 451))
    assert [len(b) for b in spy.batches] == [200, 200, 50]
    assert spy.batches[0][0] == 1 and spy.batches[-1][-1] == 450


def test_it_indexes_eagerly_without_a_broker(
    own_search_index: str, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SEARCH_AUTO_INDEX = True
    assert django_settings.CELERY_TASK_ALWAYS_EAGER
    with engine().reading(own_search_index) as live:
        assert live.retrieve([NEW_ID]) == []
    with django_capture_on_commit_callbacks(execute=True):
        anime_upsert(record=_record())
    with engine().reading(own_search_index) as live:
        assert [r.id for r in live.retrieve([NEW_ID])] == [NEW_ID]
    assert search_anime("octopus chess lighthouse keeper", limit=3).hits[0].anime.mal_id == NEW_ID


@pytest.mark.slow
def test_it_indexes_new_anime_with_a_real_celery_worker(
    own_search_index_committed: str, settings, celery_test_broker: BrokerQueue
) -> None:
    """A real worker (celery's test worker, in a thread of this process so that it shares Qdrant's
    local storage) consumes ``anime_index_batch`` from Redis. Its own app (the project's settings,
    the test broker, a queue of the test's own) is current for the test, so the shared task is sent
    through it; the project's app keeps its eager configuration for the other tests."""
    from celery import Celery
    from celery.contrib.testing.worker import start_worker

    from animesite.celery import app as project_app

    settings.SEARCH_AUTO_INDEX = True
    app = Celery("animesite-worker-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=celery_test_broker.url, task_default_queue=celery_test_broker.queue, task_always_eager=False
    )
    mal_id = NEW_ID + 1
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30, loglevel="INFO"
        ):
            anime_upsert(record=_record(mal_id=mal_id))  # autocommit: enqueued at once
            deadline = time.monotonic() + 120
            found = False
            while time.monotonic() < deadline and not found:
                hits = search_anime("octopus chess lighthouse keeper", limit=3).hits
                found = bool(hits) and hits[0].anime.mal_id == mal_id
                if not found:
                    time.sleep(0.5)
            assert found, "the worker did not index the new anime within 120 s"
    finally:
        project_app.set_current()
        project_app.set_default()
        app.close()


def test_it_reindexes_the_admin_selection(catalog, spy: _Spy, admin_client) -> None:
    response = admin_client.post(
        "/admin/catalog/anime/",
        {"action": "reindex_in_search", "_selected_action": ["1535", "5114", "52991"]},
        follow=True,
    )
    assert response.status_code == 200
    assert spy.batches == [[1535, 5114, 52991]]
    assert "Re-indexing 3 anime in search (1 task of at most 200)." in response.content.decode()
