from __future__ import annotations

import json
import logging
import os
import secrets
import string
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle

from animesite.logs import JsonFormatter, RequestIdFilter
from catalog.search.freshness import TASK_BATCH
from evaluator.models import TrainingRun

ROOT = Path(__file__).resolve().parents[2]


def production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "SECURE_"))}
    key = "".join(secrets.choice(string.ascii_letters + string.digits + "!@#%^&*(-_=+)") for _ in range(50))
    env.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=key, DJANGO_ALLOWED_HOSTS="example.org")
    return env


def test_it_passes_the_deployment_checks_in_production():
    def check(env: dict[str, str]) -> subprocess.CompletedProcess:
        command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    # Production shares one cache between workers (rate limits, sign-in attempts): Redis.
    done = check(production_env() | {"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    without = check({k: v for k, v in production_env().items() if k != "REDIS_URL"})
    assert without.returncode == 1
    assert "(animesite.W001) The cache is per process (no REDIS_URL)" in without.stdout + without.stderr


def test_it_hardens_cookies_hsts_and_redirects_in_production():
    script = (
        "from django.conf import settings as s; import json; print(json.dumps([s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS, s.LOG_FORMAT, s.REQUEST_LOG]))"
    )

    def read(**extra: str) -> list[object]:
        env = production_env() | extra
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert read() == [True, True, True, 31_536_000, True, True, None, "DENY", "json", True]
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    behind_proxy = read(DJANGO_SECURE_PROXY_SSL_HEADER="1", DJANGO_HSTS_PRELOAD="0")
    assert behind_proxy[5:7] == [False, ["HTTP_X_FORWARDED_PROTO", "https"]]


def test_it_redirects_to_https_and_sends_hsts(client, catalog, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    plain = client.get("/anime/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/anime/"
    secure = client.get("/anime/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=3600")


@pytest.mark.parametrize("url", ["/", "/anime/", "/anime/5114/", "/search/", "/evaluate/", "/api/docs/"])
def test_it_sends_a_strict_content_security_policy(client, catalog, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_it_echoes_a_request_id(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42").headers["X-Request-ID"] == "lb-7f3a.42"


def test_it_makes_a_request_id_when_there_is_none_or_it_is_unsafe(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID='bad id"><script>').headers["X-Request-ID"]
    assert len(replaced) == 32 and "script" not in replaced
    assert client.get("/healthz").headers["X-Request-ID"] != made


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_it_logs_one_json_line_per_request_with_its_id(client, catalog, settings):
    settings.REQUEST_LOG = True
    handler = Lines()
    logger = logging.getLogger("animesite.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.get("/anime/?page=1", HTTP_X_REQUEST_ID="req-1")
        client.get("/anime/999999999/", HTTP_X_REQUEST_ID="req-2")
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in handler.lines]
    assert [(r["request_id"], r["method"], r["path"], r["status"]) for r in records] == [
        ("req-1", "GET", "/anime/", 200),
        ("req-2", "GET", "/anime/999999999/", 404),
    ]
    assert all(r["logger"] == "animesite.request" and r["level"] == "INFO" for r in records)
    assert all(isinstance(r["duration_ms"], float) for r in records)


def test_it_throttles_anonymous_clients_users_and_search(client, catalog, monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "5/minute", "search": "2/minute"}
    )
    assert [client.get("/api/genres/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/api/genres/").headers["Retry-After"]

    user = User.objects.create_user("reader", password="pw-reader-123")
    client.force_login(user)
    assert [client.get("/api/genres/").status_code for _ in range(6)] == [200] * 5 + [429]

    # Search has its own tighter scope (counted apart from the general rate).
    client.logout()
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "100/minute", "user": None, "search": "2/minute"}
    )
    assert [client.get("/api/search/", {"q": ""}).status_code for _ in range(3)] == [400, 400, 429]


def test_it_refuses_oversized_request_bodies(client, catalog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"synopsis": "x" * 5000})
    response = client.post("/api/evaluate/", body, content_type="application/json")
    assert response.status_code == 400  # RequestDataTooBig, before any parsing


# --- staff-only actions ------------------------------------------------------------------


@pytest.fixture
def reader_token(db) -> str:
    return Token.objects.create(user=User.objects.create_user("reader", password="pw-reader-123")).key


@pytest.mark.parametrize("url", ["/api/admin/reindex/", "/api/admin/retrain/", "/api/admin/crawl/"])
def test_it_keeps_staff_actions_from_everyone_else(client, catalog, reader_token, url):
    runs = TrainingRun.objects.count()
    anonymous = client.post(url, {}, content_type="application/json")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    assert anonymous["WWW-Authenticate"] == "Token"
    bad = client.post(url, {}, content_type="application/json", HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.status_code == 401 and bad.json() == {"detail": "Invalid token."}
    reader = client.post(url, {}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {reader_token}")
    assert reader.status_code == 403
    assert reader.json() == {"detail": "You do not have permission to perform this action."}
    assert TrainingRun.objects.count() == runs


def test_it_reindexes_given_anime_for_staff(client, catalog, staff_token, monkeypatch):
    from catalog.tasks import anime_index_batch

    queued: list[list[int]] = []
    monkeypatch.setattr(anime_index_batch, "apply_async", lambda args, kwargs, **_: queued.append(*args))
    response = client.post(
        "/api/admin/reindex/",
        {"mal_ids": [5114, 1, 5114]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {staff_token}",
    )
    assert response.status_code == 202
    assert response.json() == {"detail": "Queued 2 anime in 1 batch(es).", "anime": 2, "batches": 1}
    assert queued == [[1, 5114]]


def test_it_reindexes_the_whole_catalogue_in_batches(client, catalog, staff_token, monkeypatch):
    from catalog.models import Anime
    from catalog.tasks import anime_index_batch

    queued: list[list[int]] = []
    monkeypatch.setattr(anime_index_batch, "apply_async", lambda args, kwargs, **_: queued.append(*args))
    response = client.post(
        "/api/admin/reindex/", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {staff_token}"
    )
    assert response.status_code == 202
    total = Anime.objects.count()
    assert response.json()["anime"] == total and total > 2000
    # The one batch size of every re-index (catalog.search.freshness).
    assert [len(batch) for batch in queued[:-1]] == [TASK_BATCH] * (len(queued) - 1)
    assert sorted(i for batch in queued for i in batch) == sorted(Anime.objects.values_list("mal_id", flat=True))


def test_it_names_the_field_of_a_bad_reindex_request(client, catalog, staff_token):
    response = client.post(
        "/api/admin/reindex/",
        {"mal_ids": ["abc"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {staff_token}",
    )
    assert response.status_code == 400
    assert response.json() == {"mal_ids": {"0": ["A valid integer is required."]}}


def test_it_starts_one_retraining_at_a_time(
    client, catalog, staff_token, monkeypatch, django_capture_on_commit_callbacks
):
    from evaluator.tasks import retrain

    queued: list[int] = []
    monkeypatch.setattr(retrain, "apply_async", lambda args, kwargs, **_: queued.append(*args))
    earlier = set(TrainingRun.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/admin/retrain/", HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert first.status_code == 202
    run = TrainingRun.objects.exclude(pk__in=earlier).get()
    assert first.json() == {"detail": f"Retraining started as run {run.pk}.", "run": run.pk}
    assert (run.status, run.triggered_by) == (TrainingRun.Status.RUNNING, TrainingRun.Trigger.ADMIN)
    assert queued == [run.pk]

    second = client.post("/api/admin/retrain/", HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert second.status_code == 409
    assert second.json()["detail"].startswith(f"A training run is already in progress (run {run.pk}, started ")
    assert TrainingRun.objects.count() == len(earlier) + 1 and queued == [run.pk]


def test_it_queues_a_crawl_for_staff(client, catalog, staff_token, settings, monkeypatch):
    from crawler.tasks import crawl_refresh

    queued: list[dict[str, object]] = []
    monkeypatch.setattr(crawl_refresh, "apply_async", lambda args, kwargs, **_: queued.append(kwargs))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    auth = {"HTTP_AUTHORIZATION": f"Token {staff_token}"}
    response = client.post(
        "/api/admin/crawl/", {"spider": "mal", "stale_days": 3}, content_type="application/json", **auth
    )
    assert response.status_code == 202
    assert response.json() == {"detail": "Queued a mal crawl.", "spider": "mal", "stale_days": 3}
    assert queued == [{"spider": "mal", "stale_days": 3}]

    bad = client.post("/api/admin/crawl/", {"spider": "web", "stale_days": -1}, content_type="application/json", **auth)
    assert bad.status_code == 400
    assert bad.json() == {
        "spider": ['"web" is not a valid choice.'],
        "stale_days": ["Ensure this value is greater than or equal to 0."],
    }

    # No broker: the same rule as every long task (jobs.services.BackgroundTask), a thread of this
    # process, never the request itself.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.undo()
    started: list[tuple] = []
    threads: list[threading.Thread] = []

    class Recorded(threading.Thread):
        def start(self) -> None:
            threads.append(self)
            super().start()

    monkeypatch.setattr("jobs.services.threading", SimpleNamespace(Thread=Recorded))
    monkeypatch.setattr(
        "jobs.services._run_in_background", lambda task, args, kwargs: started.append((task.name, kwargs))
    )
    inline = client.post("/api/admin/crawl/", {}, content_type="application/json", **auth)
    assert inline.status_code == 202
    assert queued == [{"spider": "mal", "stale_days": 3}]
    [thread] = threads
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert (thread.name, thread.daemon) == ("task crawler.tasks.crawl_refresh", True)
    assert started == [("crawler.tasks.crawl_refresh", {"spider": "jikan", "stale_days": 7})]


def test_it_documents_the_staff_actions(client, catalog):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, codes in {
        "/api/admin/reindex/": {"202", "400", "401", "403"},
        "/api/admin/retrain/": {"202", "401", "403", "409"},
        "/api/admin/crawl/": {"202", "400", "401", "403"},
    }.items():
        operation = schema["paths"][path]["post"]
        assert codes <= set(operation["responses"])
        assert {"tokenAuth": []} in operation["security"]
