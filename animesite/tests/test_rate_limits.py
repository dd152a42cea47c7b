"""Rate limits hold across worker processes (counted in the shared cache, atomically), and the
pages that cost CPU or store rows (search, evaluate, list import) share the API's budgets; a
person gets a 429 page that says when to retry."""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from animesite.serving import LocalServing, fetch, free_port
from catalog.tests.test_lists import EXPORT, _named
from evaluator.models import Evaluation
from testsupport.production import isolated_production_env

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/8")


@pytest.mark.slow
def test_two_workers_share_one_budget(tmp_path: Path):
    """The production set-up (nginx, gunicorn with two worker processes, Redis as the cache): at
    60 a minute, 60 of 200 calls pass (each worker counting on its own let 120 through, and DRF's
    read-then-write counter let about 100 through even on a shared Redis)."""
    env = isolated_production_env(
        tmp_path,
        REDIS_URL=TEST_REDIS_URL,
        CACHE_KEY_PREFIX=f"test-{secrets.token_hex(6)}",  # never another run's counters
        API_ANON_THROTTLE_RATE="60/minute",
    )
    with LocalServing(port=free_port(), proxy=True, env=env, log_dir=tmp_path / "logs", workers=2, threads=4) as site:
        site.wait_ready(needs=("database",))
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: fetch(site.port, "GET", "/api/genres/", timeout=30)[0], range(200)))
    assert codes.count(200) == 60 and codes.count(429) == 140


@pytest.fixture
def tight(monkeypatch):
    def rates(**scopes: str) -> None:
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": None, "user": None, **scopes})

    return rates


def test_the_search_page_shares_the_search_api_s_budget(search_index, client: Client, tight):
    tight(search="5/minute")
    assert [client.get("/search/", {"q": "time travel"}).status_code for _ in range(3)] == [200] * 3
    assert client.get("/search/").status_code == 200  # the empty page runs no search and counts nothing
    assert [client.get("/api/search/", {"q": "time travel"}).status_code for _ in range(3)] == [200, 200, 429]
    page = client.get("/search/", {"q": "time travel"})
    assert page.status_code == 429 and 0 < int(page["Retry-After"]) <= 60
    html = page.content.decode()
    assert "You are sending requests faster than this site can serve everyone." in html
    assert "Please try again in" in html and "<h1>Too many requests</h1>" in html
    live = client.get("/search/", {"q": "time travel"}, HTTP_HX_REQUEST="true")
    assert live.status_code == 429 and 'id="too-many"' in live.content.decode()
    assert "<html" not in live.content.decode()  # the partial, swapped into the results


def test_the_evaluate_page_stops_storing_past_its_budget(active_run, client: Client, tight):
    tight(evaluate="3/minute")
    before = Evaluation.objects.count()
    synopses = [f"A young pilot number {i} joins a war between floating cities over the sea." for i in range(5)]
    codes = [client.post("/evaluate/", {"synopsis": text, "genres": "Action"}).status_code for text in synopses]
    assert codes == [302, 302, 302, 429, 429]
    assert Evaluation.objects.count() == before + 3
    api = client.post("/api/evaluate/", {"synopsis": synopses[0]}, content_type="application/json")
    assert api.status_code == 429


def test_list_imports_share_one_budget(catalog, client: Client, tight):
    tight(list_import="2/minute")
    assert client.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")}).status_code == 302
    assert client.post("/api/list/", {"file": _named(EXPORT.read_bytes(), "a.xml")}).status_code == 201
    assert client.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "a.xml")}).status_code == 429
    assert client.post("/api/list/", {"file": _named(EXPORT.read_bytes(), "a.xml")}).status_code == 429
    assert client.get("/api/list/").status_code == 200  # reading is not an import
