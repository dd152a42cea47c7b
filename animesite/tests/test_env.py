from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from animesite.env import env_bool, env_database, env_int, env_url

ROOT = Path(__file__).resolve().parents[2]


def test_it_reads_booleans(monkeypatch):
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "YES")
    assert env_bool("FLAG", False) is True


def test_it_names_the_variable_of_a_bad_value(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG must be a boolean"):
        env_bool("DJANGO_DEBUG", True)
    monkeypatch.setenv("SOME_INT", "12x")
    with pytest.raises(ImproperlyConfigured, match="SOME_INT must be an integer"):
        env_int("SOME_INT", 1)
    monkeypatch.setenv("QDRANT_URL", "localhost:6333")
    with pytest.raises(ImproperlyConfigured, match="QDRANT_URL must be a URL"):
        env_url("QDRANT_URL", schemes=("http", "https"))


def test_it_parses_database_urls(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # SQLite in write-ahead-log mode, writers queueing on the lock (make run writes from several processes).
    wal = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    assert env_database("DATABASE_URL", tmp_path / "db.sqlite3") == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "db.sqlite3"),
        "OPTIONS": wal,
    }
    monkeypatch.setenv("DATABASE_URL", "postgres://anime:s%40cret@db.example:5433/anime?sslmode=require")
    config = env_database("DATABASE_URL", tmp_path / "x")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]) == (
        "anime",
        "anime",
        "s@cret",
        "db.example",
        "5433",
    )
    assert config["OPTIONS"] == {"sslmode": "require"}
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/abs.sqlite3")
    sqlite = env_database("DATABASE_URL", tmp_path / "x")
    assert (sqlite["NAME"], sqlite["OPTIONS"]) == ("/tmp/abs.sqlite3", wal)
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/anime")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with sqlite:// or postgres://"):
        env_database("DATABASE_URL", tmp_path / "x")


def test_a_bad_setting_stops_the_start_with_its_name():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "sometimes"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_production_needs_a_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def _check(**environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workers_elsewhere_need_a_qdrant_server_at_start_up():
    # A broker means Celery workers write to the index; the embedded engine's index is on this
    # machine's disk: refused at start-up, saying what to set, not at the first search.
    result = _check(CELERY_BROKER_URL="redis://127.0.0.1:6379/1")
    assert result.returncode != 0
    assert "Set QDRANT_URL to a Qdrant server" in result.stderr
    assert "QDRANT_EDGE_SHARED=1" in result.stderr
    assert _check(CELERY_BROKER_URL="redis://127.0.0.1:6379/1", QDRANT_EDGE_SHARED="1").returncode == 0
    assert _check(CELERY_BROKER_URL="redis://127.0.0.1:6379/1", QDRANT_URL="http://127.0.0.1:6333").returncode == 0
