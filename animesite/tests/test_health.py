from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError

from animesite import health
from catalog.models import Anime
from catalog.search.engine import engine, engine_reset
from catalog.search.index import index_base, index_format, index_schema


@pytest.fixture
def own_qdrant(settings, tmp_path: Path):
    """An embedded-engine folder of this test's own (the session index is left alone)."""
    engine_reset()
    settings.QDRANT_URL = ""
    settings.QDRANT_PATH = tmp_path / "search-index"
    yield settings
    engine_reset()


@pytest.fixture
def built_index(own_qdrant) -> str:
    """An empty generation of the index, published. Returns its name."""
    with engine().building(index_base(), schema=index_schema(), format=index_format()) as collection:
        return collection.generation


@pytest.fixture
def staff(client, django_user_model):
    """A signed-in staff member: /readyz shows them each part's details."""
    client.force_login(django_user_model.objects.create_user("ops", password="pw-ops-123456", is_staff=True))
    return client


@pytest.fixture
def model_file(settings, tmp_path: Path):
    from evaluator.models import TrainingRun

    settings.VAR_DIR = tmp_path
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "run.joblib").write_bytes(b"model")
    TrainingRun.objects.update(is_active=False)  # a session-wide run of the evaluator's tests
    return TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED, artifact="run.joblib", is_active=True, chosen="test"
    )


def test_it_answers_healthz_without_touching_dependencies(client):
    # No `db` fixture: any query would raise here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_answers_probes_for_any_host_and_over_plain_http(client, settings):
    # Load balancers probe by IP over HTTP: no DisallowedHost 400, no redirect to https.
    settings.ALLOWED_HOSTS = ["example.org"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_it_is_ready_when_every_part_is_up(staff, db, built_index, model_file, settings):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://"
    response = staff.get("/readyz")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": {"status": "up", "vendor": health.connection.vendor},
            "redis": {"status": "not configured"},
            "qdrant": {
                "status": "up",
                "mode": "edge",
                "index": index_base(),
                "generation": built_index,
                "points": 0,
                "slice": "whole",
            },
            "catalogue": {"status": "up", "anime": Anime.objects.count()},
            "model": {"status": "up", "run": model_file.pk},
        },
    }
    assert response.json()["checks"]["catalogue"]["anime"] > 20_000  # the session's whole catalogue


def test_it_tells_anonymous_callers_only_up_or_down_per_part(client, db, built_index, model_file, settings):
    from rest_framework.authtoken.models import Token

    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://"
    expected = {
        "status": "ready",
        "checks": {
            "database": {"status": "up"},
            "redis": {"status": "not configured"},
            "qdrant": {"status": "up"},
            "catalogue": {"status": "up"},
            "model": {"status": "up"},
        },
    }
    assert client.get("/readyz").json() == expected
    # Neither a signed-in non-staff user nor a bad token sees more; a staff token does.
    user = get_user_model().objects.create_user("reader", password="pw-reader-123")
    client.force_login(user)
    assert client.get("/readyz").json() == expected
    client.logout()
    assert client.get("/readyz", HTTP_AUTHORIZATION="Token nope").json() == expected
    user.is_staff = True
    user.save()
    token = Token.objects.create(user=user).key
    detailed = client.get("/readyz", HTTP_AUTHORIZATION=f"Token {token}").json()
    assert detailed["checks"]["qdrant"]["generation"] == built_index
    assert detailed["checks"]["database"]["vendor"] == health.connection.vendor


def test_it_is_starting_while_the_index_and_the_model_are_missing(staff, db, own_qdrant):
    from evaluator.models import TrainingRun

    TrainingRun.objects.update(is_active=False)
    response = staff.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "starting"
    assert body["checks"]["qdrant"] == {
        "status": "missing",
        "mode": "edge",
        "index": index_base(),
        "detail": "search index not built",
    }
    assert body["checks"]["model"] == {"status": "missing", "detail": "no active model: run manage.py train_classifier"}


def test_it_reports_the_first_build_and_training_in_progress(staff, db, own_qdrant):
    from catalog.search.index import index_build_claim
    from evaluator.models import TrainingRun

    TrainingRun.objects.update(is_active=False)
    TrainingRun.objects.create(status=TrainingRun.Status.RUNNING)
    build = index_build_claim()
    build.done = build.total // 4
    build.save()
    body = staff.get("/readyz").json()
    assert body["status"] == "starting"
    assert body["checks"]["qdrant"]["status"] == "missing"
    assert body["checks"]["qdrant"]["building"] == 25
    assert body["checks"]["qdrant"]["detail"] == "search index being built: 25%"
    assert body["checks"]["model"] == {"status": "missing", "detail": "the first model is being trained"}


def test_it_is_starting_while_an_import_fills_the_catalogue(staff, db, built_index, model_file, settings):
    from catalog.models import CatalogImport
    from jobs.owners import owner_token

    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://"
    # An import of this (living) process, a quarter done: the pages answer meanwhile.
    CatalogImport.objects.create(owner=owner_token(), total=20_000, done=5_000)
    response = staff.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "starting"
    assert body["checks"]["catalogue"] == {
        "status": "missing",
        "anime": Anime.objects.count(),
        "detail": "catalogue being imported: 25%",
    }
    # An import whose process is gone no longer holds the site back.
    CatalogImport.objects.update(owner=f"{owner_token().rpartition(':')[0]}:999999999")
    assert staff.get("/readyz").json()["checks"]["catalogue"] == {"status": "up", "anime": Anime.objects.count()}


def test_it_is_unavailable_when_the_database_is_down(staff, db, built_index, monkeypatch):
    class DeadConnection:
        vendor = "postgresql"

        def cursor(self):
            raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(health, "connection", DeadConnection())
    response = staff.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    # The class name only: error messages can carry hosts and credentials.
    assert body["checks"]["database"] == {"status": "down", "error": "OperationalError"}
    assert body["checks"]["catalogue"] == {"status": "down", "error": "database"}
    assert body["checks"]["model"] == {"status": "down", "error": "database"}
    assert body["checks"]["qdrant"]["status"] == "up"


def test_it_is_unavailable_when_qdrant_is_unreachable(staff, db, qdrant_down):
    response = staff.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    # Refused at once, not timed out (so the check's thread is done before the client is reset).
    assert body["checks"]["qdrant"] == {"status": "down", "error": "EngineUnavailable"}
    assert body["checks"]["database"]["status"] == "up"


def test_it_answers_without_waiting_for_a_hanging_check(staff, db, settings, monkeypatch, caplog):
    settings.HEALTH_CHECK_TIMEOUT = 0.3
    release, ended = threading.Event(), threading.Event()

    def hangs():
        # Hangs until the test lets it go (at most 30 s, so a broken probe cannot hang the suite).
        released = release.wait(timeout=30)
        ended.set()
        return {"status": "up" if released else "never released"}

    monkeypatch.setattr(health, "check_qdrant", hangs)
    with caplog.at_level(logging.WARNING, logger="animesite.health"):
        response = staff.get("/readyz")
    # The answer came while the check was still hanging: the timeout path, not the check's result.
    assert not ended.is_set()
    assert response.status_code == 503
    assert response.json()["checks"]["qdrant"] == {"status": "down", "error": "timed out after 0.3 s"}
    assert "readiness check hangs timed out" in caplog.messages
    release.set()
    assert ended.wait(timeout=30)  # the helper thread is free again


def test_it_reports_redis_down_when_configured_and_unreachable(staff, db, own_qdrant, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = staff.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == {"status": "down", "error": "ConnectionError"}


def test_it_reports_an_active_model_without_its_file_as_down(staff, db, own_qdrant, model_file):
    (model_file_path := Path(health.settings.VAR_DIR) / "models" / "run.joblib").unlink()
    assert not model_file_path.exists()
    response = staff.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["model"] == {
        "status": "down",
        "run": model_file.pk,
        "error": "artifact file missing",
    }


def test_it_reports_the_popular_slice_live_while_the_whole_catalogue_is_built(staff, db, own_qdrant, model_file):
    """A first build's first step: the popular slice answers searches (ready), and /readyz says so
    with the progress of the whole catalogue's build; once that is live, the slice is "whole"."""
    from catalog.search.index import POPULAR, index_build_claim

    with engine().building(index_base(), schema=index_schema(), format=index_format() + POPULAR) as collection:
        popular = collection.generation
    body = staff.get("/readyz").json()
    assert body["checks"]["qdrant"] == {
        "status": "up",
        "mode": "edge",
        "index": index_base(),
        "generation": popular,
        "points": 0,
        "slice": "popular",
        "detail": "popular slice live; the whole catalogue is not indexed yet",
    }
    build = index_build_claim()
    build.done = build.total * 2 // 5
    build.save()
    qdrant = staff.get("/readyz").json()["checks"]["qdrant"]
    assert (qdrant["status"], qdrant["slice"], qdrant["building"]) == ("up", "popular", 40)
    assert qdrant["detail"] == "popular slice live; the whole catalogue being built: 40%"

    with engine().building(index_base(), schema=index_schema(), format=index_format()) as collection:
        whole = collection.generation
    qdrant = staff.get("/readyz").json()["checks"]["qdrant"]
    assert (qdrant["generation"], qdrant["slice"]) == (whole, "whole")
    assert "building" not in qdrant and "detail" not in qdrant
