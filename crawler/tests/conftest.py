"""Fixtures for the crawler tests: the fake sources on an ephemeral port, and a fresh database
that a crawl subprocess and the test both reach (Twisted's reactor cannot restart, so every
crawl runs ``manage.py crawl`` in its own process)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from crawler.tests.fakesource import FakeSources, serve

ROOT = Path(__file__).resolve().parents[2]
_counter = itertools.count()


@pytest.fixture
def sources(shared_fixtures: Path) -> Iterator[tuple[str, FakeSources]]:
    with serve(shared_fixtures) as served:
        yield served


def _postgres_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def _migrate(url: str, tmp: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "ANIMESITE_VAR_DIR": str(tmp), "SEARCH_AUTO_INDEX": "0"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def _pg_admin(sql: str) -> None:
    import psycopg2

    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname="postgres",
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def crawl_db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database to copy for each crawl test: a SQLite file, or a Postgres
    template database next to the test database."""
    tmp = tmp_path_factory.mktemp("crawl-template")
    if _is_postgres():
        name = f"crawl_template_{os.getpid()}"
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")
        _pg_admin(f"CREATE DATABASE {name}")
        _migrate(_postgres_url(name), tmp)
        yield name
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")
    else:
        path = tmp / "template.sqlite3"
        _migrate(f"sqlite:///{path}", tmp)
        yield str(path)


@dataclass
class CrawlDb:
    url: str  # DATABASE_URL for the crawl subprocess
    alias: str  # the same database in this process: Anime.objects.using(alias)
    var_dir: Path


@pytest.fixture
def crawl_db(crawl_db_template: str, tmp_path: Path, django_db_blocker) -> Iterator[CrawlDb]:
    """A fresh catalogue database (empty, migrated) for one test's crawls."""
    alias = f"crawl{next(_counter)}"
    if _is_postgres():
        name = f"crawl_{os.getpid()}_{alias}"
        with django_db_blocker.unblock():
            _pg_admin(f"DROP DATABASE IF EXISTS {name}")
            _pg_admin(f"CREATE DATABASE {name} TEMPLATE {crawl_db_template}")
        url = _postgres_url(name)
        config = {**settings.DATABASES["default"], "NAME": name, "CONN_MAX_AGE": 0, "TEST": {}}
    else:
        path = tmp_path / "crawl.sqlite3"
        path.write_bytes(Path(crawl_db_template).read_bytes())
        url = f"sqlite:///{path}"
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    connections.settings[alias] = connections.configure_settings({"default": config})["default"]
    with django_db_blocker.unblock():
        yield CrawlDb(url=url, alias=alias, var_dir=tmp_path)
        connections[alias].close()
        try:
            del connections[alias]
        except AttributeError:
            pass
        del connections.settings[alias]
        if _is_postgres():
            _pg_admin(f"DROP DATABASE IF EXISTS {name}")


@dataclass
class CrawlRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_crawl(crawl_db: CrawlDb, sources: tuple[str, FakeSources]):
    """Run the real ``manage.py crawl`` against the fake sources and the fresh database."""
    base_url, _ = sources

    def run(*args: str, timeout: float = 120) -> CrawlRun:
        env = {
            **os.environ,
            "DATABASE_URL": crawl_db.url,
            "JIKAN_BASE_URL": f"{base_url}/v4",
            "MAL_BASE_URL": base_url,
            "ANIMESITE_VAR_DIR": str(crawl_db.var_dir),
            "SEARCH_AUTO_INDEX": "0",
            "CRAWLER_CONTACT": "tests@example.invalid",
        }
        env.pop("CELERY_BROKER_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "crawl", *args, "--progress-interval", "0.5"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CrawlRun(done.returncode, done.stdout, done.stderr)

    return run
