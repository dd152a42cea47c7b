"""The site as production runs it, for tests that need real worker processes: gunicorn with
``gunicorn.conf.py``, DEBUG off, on 127.0.0.1, with a database of its own (a migrated SQLite file
in the test's temporary folder: the test session's database is not visible to another process)."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "DATABASE_URL"))}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_HSTS_SECONDS="0",
        ANIMESITE_VAR_DIR=str(folder),
        QDRANT_PATH=str(folder / "search-index"),
        LOG_LEVEL="warning",
        REQUEST_LOG="0",
    )
    env.update(extra)
    return env


@contextmanager
def gunicorn_running(folder: Path, *, workers: int = 2, threads: int = 4, **extra: str) -> Iterator[int]:
    """gunicorn serving the site on a free port of 127.0.0.1; yields the port. The database is
    migrated first; the search index and the evaluator's model are absent (their fallbacks answer)."""
    port = free_port()
    env = production_env(
        folder, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(workers), GUNICORN_THREADS=str(threads), **extra
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    log = open(folder / "gunicorn.log", "w")  # open while the server runs
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "animesite.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(port, server, folder)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _wait_for(port: int, server: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, (folder / "gunicorn.log").read_text()
        try:
            if get(port, "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer within 90 s:\n" + (folder / "gunicorn.log").read_text())


def get(port: int, path: str, *, timeout: float = 30) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
