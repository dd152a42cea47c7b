from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    assert path.is_dir(), f"the shared catalogue data is expected at {path}"
    return path


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    path = SHARED / "fixtures"
    assert path.is_dir(), f"the shared recorded fixtures are expected at {path}"
    return path


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, shared_data: Path):  # noqa: F811
    """Import the real catalogue (../shared/data, ~2,300 anime) once per test session into the
    test database. Tests that use ``db`` see it and roll their own changes back."""
    from catalog.services import anime_import

    with django_db_blocker.unblock():
        anime_import(paths=[shared_data])
    yield


@pytest.fixture
def catalog(db) -> None:
    """The real catalogue (imported once per session by ``django_db_setup``)."""
    return None


@pytest.fixture
def catalog_committed(transactional_db, shared_data: Path) -> None:
    """The real catalogue for transactional tests (live server, Celery worker): those flush
    the database when they end, so re-import when an earlier one emptied it."""
    from catalog.models import Anime
    from catalog.services import anime_import

    if Anime.objects.count() == 0:
        anime_import(paths=[shared_data])


@pytest.fixture(autouse=True)
def _throttle_counters_reset() -> None:
    """API throttles count requests per client address in the cache, and every test client is
    127.0.0.1: each test starts from zero so a long suite does not run into the rate limits."""
    from django.core.cache import cache

    cache.clear()
