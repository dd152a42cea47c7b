"""The one place the site reaches Qdrant: a server at ``QDRANT_URL`` when set, otherwise
qdrant-client's local mode under ``QDRANT_PATH`` (``var/qdrant``). The same calls serve both.

Local mode keeps a file lock for the client's lifetime, so only one process can hold it:
fine for development, tests and eager tasks; with a Celery worker next to a web server, run a
Qdrant server and set ``QDRANT_URL``. ``qdrant_session()`` lets a short-lived writer (a task in a
worker) release the lock when it is done.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from qdrant_client import QdrantClient

_lock = threading.RLock()


class QdrantBusy(RuntimeError):
    """Local mode's storage is held by another process."""


_client: QdrantClient | None = None


def qdrant_is_local() -> bool:
    return not settings.QDRANT_URL


def qdrant_client() -> QdrantClient:
    """The process's client (created on first use)."""
    global _client
    with _lock:
        if _client is None:
            if settings.QDRANT_URL:
                _client = QdrantClient(
                    url=settings.QDRANT_URL,
                    api_key=settings.QDRANT_API_KEY or None,
                    # short: a dead server must not hold requests (search falls back to the database)
                    timeout=settings.QDRANT_TIMEOUT,
                )
            else:
                settings.QDRANT_PATH.mkdir(parents=True, exist_ok=True)
                try:
                    _client = QdrantClient(path=str(settings.QDRANT_PATH))
                except RuntimeError as exc:
                    if "already accessed" not in str(exc):
                        raise
                    raise QdrantBusy(
                        f"Qdrant's local storage {settings.QDRANT_PATH} is in use by another process (a running "
                        "server or worker?): stop it, or run a Qdrant server and set QDRANT_URL"
                    ) from exc
        return _client


@atexit.register
def qdrant_close() -> None:
    """Close the process's client (releases local mode's lock); the next call reopens it."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
            _client = None


@contextmanager
def qdrant_session(*, release: bool = False) -> Iterator[QdrantClient]:
    """The client for one unit of work. With ``release`` in local mode, a client this call
    opened is closed again at the end, so another process can take the lock."""
    with _lock:
        opened_here = _client is None
        client = qdrant_client()
    try:
        yield client
    finally:
        if release and opened_here and qdrant_is_local():
            qdrant_close()
