from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.search.engine import engine, engine_reset
from catalog.search.engine.edge import live_generation_copy
from catalog.search.index import index_base


def _index_copy(settings, folder: Path) -> Iterator[str]:
    """The session's index copied into ``folder`` and made the test's own engine folder: a test
    that rebuilds or edits it cannot leave the shared index changed for the tests after it,
    whether it passes or fails. Copying the live generation is what the engine's own writers do
    (a published generation is never written again; the copy writes only its data, ~6 MB)."""
    base = index_base()
    live = engine().live(base)
    assert live is not None, "the session's search index is not built"
    live_generation_copy(Path(settings.QDRANT_PATH), base, live.name, folder)
    engine_reset()
    settings.QDRANT_PATH = folder
    try:
        yield base
    finally:
        engine_reset()  # its shards are closed before the folder goes; the settings fixture then restores the path


@pytest.fixture
def own_search_index(search_index: str, settings, tmp_path: Path) -> Iterator[str]:
    """``search_index``, in a copy of the test's own (``db`` tests). Returns the index's base name."""
    yield from _index_copy(settings, tmp_path / "search-index")


@pytest.fixture
def own_search_index_committed(search_index_committed: str, settings, tmp_path: Path) -> Iterator[str]:
    """``search_index_committed``, in a copy of the test's own (transactional tests)."""
    yield from _index_copy(settings, tmp_path / "search-index")
