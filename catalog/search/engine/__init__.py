"""The one place the site reaches a vector engine (Qdrant), behind ``SearchEngine``
(``engine/types.py``):

- ``edge`` (default, embedded): Qdrant Edge, Qdrant's engine in this process, in ``QDRANT_PATH``
  (``engine/edge.py``);
- ``server``: a Qdrant server or cluster at ``QDRANT_URL`` through qdrant-client
  (``engine/server.py``).

``engine()`` is the process's engine for the current settings (a forked child starts afresh).
"""

from __future__ import annotations

import os
import threading

from django.conf import settings

from catalog.search.engine.types import (
    Collection,
    Condition,
    EngineError,
    EngineUnavailable,
    Filter,
    Fusion,
    Generation,
    HasId,
    Hit,
    IndexMissing,
    Match,
    MatchAny,
    Nearest,
    Point,
    Range,
    Record,
    Schema,
    SearchEngine,
    Sparse,
    VectorQuery,
)

__all__ = [
    "Collection",
    "Condition",
    "EngineError",
    "EngineUnavailable",
    "Filter",
    "Fusion",
    "Generation",
    "HasId",
    "Hit",
    "IndexMissing",
    "Match",
    "MatchAny",
    "Nearest",
    "Point",
    "Range",
    "Record",
    "Schema",
    "SearchEngine",
    "Sparse",
    "VectorQuery",
    "engine",
    "engine_reset",
    "engine_set",
]

_lock = threading.Lock()
_engine: SearchEngine | None = None
_key: tuple[object, ...] | None = None


def _settings_key() -> tuple[object, ...]:
    return (settings.QDRANT_URL, settings.QDRANT_API_KEY, str(settings.QDRANT_PATH), settings.QDRANT_TIMEOUT)


def _create() -> SearchEngine:
    if settings.QDRANT_URL:
        from qdrant_client import QdrantClient

        from catalog.search.engine.server import ServerEngine

        # A short timeout: a dead server must not hold requests (search falls back to the database).
        client = QdrantClient(
            url=settings.QDRANT_URL, api_key=settings.QDRANT_API_KEY or None, timeout=settings.QDRANT_TIMEOUT
        )
        return ServerEngine(client)
    from catalog.search.engine.edge import EdgeEngine

    return EdgeEngine(settings.QDRANT_PATH)


def engine() -> SearchEngine:
    """The process's engine (made on first use, and again when the Qdrant settings change)."""
    global _engine, _key
    key = _settings_key()
    with _lock:
        if _engine is None or key != _key:
            if _engine is not None:
                _engine.close()
            _engine = _create()
            _key = key
        return _engine


def engine_set(instance: SearchEngine | None) -> None:
    """Use ``instance`` until the settings change or ``engine_reset`` (tests: qdrant-client's
    local mode standing in for a server)."""
    global _engine, _key
    with _lock:
        _engine = instance
        _key = _settings_key() if instance is not None else None


def engine_reset() -> None:
    """Close the process's engine; the next ``engine()`` makes a new one."""
    global _engine, _key
    with _lock:
        if _engine is not None:
            _engine.close()
        _engine = None
        _key = None


def _forget_after_fork() -> None:
    # A forked worker must not share the parent's open shards or client connections.
    global _engine, _key
    _engine = None
    _key = None


os.register_at_fork(after_in_child=_forget_after_fork)
