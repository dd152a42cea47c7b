from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache

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


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> None:
    """Tests sign in hundreds of times: a fast hasher (the algorithm is not what they test)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def catalogue_models() -> list[type]:
    """The tables an import of the catalogue writes, each after the tables it refers to."""
    from catalog.models import Anime, AnimeRelation, CatalogImport, Genre, Tag, TierThresholds

    return [Genre, Tag, Anime, Anime.genres.through, Anime.tags.through, AnimeRelation, TierThresholds, CatalogImport]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, shared_data: Path):
    """Import the real catalogue (../shared/data, ~22,000 anime) once per test session into the
    test database. Tests that use ``db`` see it and roll their own changes back. Yields a snapshot
    of the imported tables (``catalog_snapshot``), taken before any test can change them."""
    from catalog.services import anime_import
    from testsupport.snapshot import tables_snapshot

    with django_db_blocker.unblock():
        anime_import(paths=[shared_data])
        snapshot = tables_snapshot(catalogue_models())
    yield snapshot


@pytest.fixture(scope="session")
def catalog_snapshot(django_db_setup):
    """The catalogue's tables as the session's import left them (testsupport/snapshot.py)."""
    return django_db_setup


def catalogue_restore(snapshot) -> None:
    """Put the imported catalogue back when a transactional test's flush emptied the database:
    a copy of the rows (about a second) instead of a second import (~25 s)."""
    from catalog.models import Anime
    from testsupport.snapshot import tables_restore

    if not Anime.objects.exists():
        tables_restore(snapshot)


@pytest.fixture
def staff_token(db) -> str:
    """An API token of a staff user (staff actions, /readyz's details)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    staff = get_user_model().objects.create_user("ops", password="pw-ops-123456", is_staff=True)
    return Token.objects.create(user=staff).key


@pytest.fixture
def catalog(db) -> None:
    """The real catalogue (imported once per session by ``django_db_setup``)."""
    return None


@pytest.fixture
def catalog_committed(transactional_db, catalog_snapshot) -> None:
    """The real catalogue for transactional tests (live server, Celery worker): those flush
    the database when they end, so the session's import is restored when an earlier one emptied it."""
    catalogue_restore(catalog_snapshot)


# ---------------------------------------------------------------------------- search


@pytest.fixture(scope="session", autouse=True)
def _search_isolation(tmp_path_factory):
    """Tests never touch var/: the embedded engine (Qdrant Edge) keeps the index in a session temp
    folder. And writes to anime do not index them in search unless a test asks
    (``settings.SEARCH_AUTO_INDEX``): embedding the catalogue is done once, by ``catalog_embeddings``.
    A Gemini key in the developer's environment is dropped: only ``fake_gemini`` sets one."""
    from django.conf import settings

    from catalog.search.engine import engine_reset

    engine_reset()
    settings.QDRANT_URL = ""
    settings.QDRANT_PATH = tmp_path_factory.mktemp("search-index")
    settings.SEARCH_AUTO_INDEX = False
    settings.UPCOMING_AUTO_REFRESH = False  # a test refreshes the upcoming predictions when it means to
    settings.GEMINI_API_KEY = ""
    settings.GEMINI_BASE_URL = ""
    settings.EMBEDDING_BACKEND = "minilm"
    yield
    engine_reset()


def dead_port() -> int:
    """A port nothing listens on (bound then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def qdrant_down(settings) -> Iterator[str]:
    """The site configured for a Qdrant server that is not there (connections refused)."""
    from catalog.search.engine import engine_reset

    engine_reset()
    settings.QDRANT_URL = f"http://127.0.0.1:{dead_port()}"
    yield settings.QDRANT_URL
    engine_reset()


@dataclass(frozen=True)
class BrokerQueue:
    url: str
    queue: str


@pytest.fixture
def celery_test_broker() -> Iterator[BrokerQueue]:
    """The real Redis broker a test may publish to: ``CELERY_TEST_BROKER_URL`` (.ci/run sets it),
    else db 5 of the local Redis. The test gets a queue of its own (use it as the Celery app's
    ``task_default_queue``), so messages left in that db by an earlier run or by another session
    on the machine never reach it, and nothing is flushed: only that queue is deleted at the end."""
    from kombu import Connection, Exchange, Queue

    broker = BrokerQueue(
        url=os.environ.get("CELERY_TEST_BROKER_URL") or "redis://127.0.0.1:6379/5",
        queue=f"test-{uuid.uuid4().hex[:12]}",
    )
    yield broker
    with Connection(broker.url) as connection:
        # Declared first so that kombu knows its binding, which the delete removes too.
        queue = Queue(broker.queue, Exchange(broker.queue), routing_key=broker.queue)(connection.default_channel)
        queue.declare()
        queue.delete()


@pytest.fixture(scope="session")
def catalog_embeddings(catalog_snapshot, django_db_blocker) -> list[tuple]:
    """Embeds the whole catalogue once per session with the configured backend (minilm: a few
    minutes on 2 cores) and builds the search index from it. Returns a snapshot of the
    embedding-cache rows, which ``embedding_cache`` puts back after a transactional test flushed
    the database."""
    from catalog.models import EmbeddingCache
    from catalog.search.index import index_rebuild

    with django_db_blocker.unblock(), _embedding_cache_file_lock():
        catalogue_restore(catalog_snapshot)  # in case a transactional test flushed the database before
        embedding_cache_restore(_embedding_cache_file_read())
        index_rebuild()
        rows = list(EmbeddingCache.objects.values_list("backend", "model", "dimension", "text_sha256", "vector"))
        _embedding_cache_file_write(rows)
        return rows


@contextmanager
def _embedding_cache_file_lock() -> Iterator[None]:
    """Parallel test workers (``pytest -n``) take turns with the embedding-cache file: the first
    embeds what is missing and writes the file, the next one finds every text there and embeds
    nothing (rather than both embedding the whole catalogue at once on the same cores)."""
    import fcntl

    path = _embedding_cache_file().with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedding_cache_file() -> Path:
    # The project's var/, not settings.VAR_DIR: the session points that at a temporary folder
    # (``_evaluator_var_dir``), and this file is meant to outlive the session.
    return Path(__file__).resolve().parent / "var" / "test-embedding-cache.npz"


def _embedding_cache_file_read() -> list[tuple]:
    """The test sessions' embedding cache kept between runs under var/ (never committed), so only
    the first session on a machine pays for embedding the catalogue. Rows are keyed by the
    text's sha256 like the database cache, so a changed text is embedded again."""
    import numpy as np

    path = _embedding_cache_file()
    if not path.is_file():
        return []
    with np.load(path, allow_pickle=False) as data:
        keys, blob, offsets = data["keys"], data["blob"], data["offsets"]
        rows = []
        for i, key in enumerate(keys):
            backend, model, dimension, sha = str(key).split("|")
            rows.append((backend, model, int(dimension), sha, blob[offsets[i] : offsets[i + 1]].tobytes()))
        return rows


def _embedding_cache_file_write(rows: list[tuple]) -> None:
    import numpy as np

    path = _embedding_cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    blobs = [bytes(v) for *_, v in rows]
    offsets = np.cumsum([0, *[len(b) for b in blobs]])
    keys = np.array([f"{b}|{m}|{d}|{s}" for b, m, d, s, _ in rows])
    np.savez(
        path.with_suffix(".tmp.npz"), keys=keys, blob=np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets=offsets
    )
    path.with_suffix(".tmp.npz").replace(path)


# The embedding-cache tables as a session fixture's rows left them (testsupport/snapshot.py), by
# the name the fixture restores them under: after a flush, a copy (~0.3 s) instead of inserting
# every row through the ORM again (~2 s on PostgreSQL).
_EMBEDDING_CACHE_TABLES: dict[str, Any] = {}


def embedding_cache_restore(snapshot: list[tuple], *, name: str = "") -> None:
    """Put these embedding-cache rows back when some are missing. With a ``name`` (one per
    session-wide list of rows), an emptied table is refilled from a copy of the table taken the
    first time those rows were inserted into an empty one."""
    from catalog.models import EmbeddingCache
    from testsupport.snapshot import tables_restore, tables_snapshot

    present = EmbeddingCache.objects.count()
    if present >= len(snapshot):
        return
    if present == 0 and name in _EMBEDDING_CACHE_TABLES:
        tables_restore(_EMBEDDING_CACHE_TABLES[name])
        return
    EmbeddingCache.objects.bulk_create(
        [EmbeddingCache(backend=b, model=m, dimension=d, text_sha256=s, vector=v) for b, m, d, s, v in snapshot],
        ignore_conflicts=True,
        batch_size=500,
    )
    if present == 0 and name:
        _EMBEDDING_CACHE_TABLES[name] = tables_snapshot([EmbeddingCache])


@pytest.fixture
def embedding_cache(catalog, catalog_embeddings) -> None:
    """The real catalogue with every anime's embedding in the cache (``db`` tests)."""
    embedding_cache_restore(catalog_embeddings, name="catalog_embeddings")


@pytest.fixture
def search_index(embedding_cache) -> str:
    """The real catalogue indexed in search (a session-wide index in the embedded engine). Returns
    the index's base name."""
    from catalog.search.index import index_base

    return index_base()


@pytest.fixture
def search_index_committed(catalog_committed, catalog_embeddings) -> str:
    """``search_index`` for transactional tests (live server, Celery worker)."""
    from catalog.search.index import index_base

    embedding_cache_restore(catalog_embeddings, name="catalog_embeddings")
    return index_base()


@pytest.fixture(autouse=True)
def _throttle_counters_reset() -> None:
    """API throttles count requests per client address in the cache, and every test client is
    127.0.0.1: each test starts from zero so a long suite does not run into the rate limits."""
    from django.core.cache import cache

    cache.clear()


# ---------------------------------------------------------------------------- evaluator
# Here rather than in evaluator/tests so that every app's tests share ONE instance of these
# session fixtures (a second import elsewhere would make a second VAR_DIR and a second model).


@pytest.fixture(scope="session", autouse=True)
def _evaluator_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Model artifacts of the tests never land in the real var/models."""
    from evaluator.predictor import predictor_forget

    original = settings.VAR_DIR
    settings.VAR_DIR = tmp_path_factory.mktemp("evaluator-var")
    predictor_forget()
    yield
    settings.VAR_DIR = original
    predictor_forget()


@pytest.fixture(autouse=True)
def _clean_state(settings) -> Iterator[None]:
    from evaluator.selectors import catalogue_choices_forget

    settings.EVALUATOR_COMMENT_BACKEND = "offline"
    catalogue_choices_forget()
    cache.clear()  # throttle counters
    yield
    cache.clear()


@pytest.fixture(scope="session")
def trained(catalog_snapshot, django_db_blocker) -> dict[str, object]:
    """Train once per session (all candidates) and keep a snapshot of the run row and the
    embedding-cache rows, so a test after a database flush can put them back."""
    from catalog.models import EmbeddingCache
    from evaluator.models import TrainingRun
    from evaluator.services import training_run_train
    from evaluator.tests.conftest import TRAIN_FOLDS, TRAIN_LIMIT

    with django_db_blocker.unblock(), _embedding_cache_file_lock():
        catalogue_restore(catalog_snapshot)  # in case a transactional test flushed the database before
        embedding_cache_restore(_embedding_cache_file_read())
        run = training_run_train(triggered_by=TrainingRun.Trigger.TEST, folds=TRAIN_FOLDS, limit=TRAIN_LIMIT)
        fields = {f.attname: getattr(run, f.attname) for f in TrainingRun._meta.concrete_fields}
        cache_rows = list(EmbeddingCache.objects.values_list("backend", "model", "dimension", "text_sha256", "vector"))
        _embedding_cache_file_write(cache_rows)
    return {"run": fields, "cache": cache_rows}


@pytest.fixture(scope="session")
def upcoming_embedded(trained, django_db_blocker) -> None:
    """The upcoming anime's synopses embedded into the cache once per session (committed, so each
    test's refresh reads them instead of embedding them again) and kept in the cache file."""
    from catalog.models import EmbeddingCache
    from evaluator.dataset import anime_input
    from evaluator.features import FeatureSpec, embed_inputs
    from evaluator.upcoming.selectors import upcoming_anime

    with django_db_blocker.unblock(), _embedding_cache_file_lock():
        spec = FeatureSpec(genres=(), types=(), sources=(), text_variant=trained["run"]["text_variant"])
        embed_inputs([anime_input(a) for a in upcoming_anime()], spec, cached=True)
        _embedding_cache_file_write(
            list(EmbeddingCache.objects.values_list("backend", "model", "dimension", "text_sha256", "vector"))
        )


@pytest.fixture
def active_run(catalog, trained):
    """The session's trained run, active (``db`` tests)."""
    from evaluator.models import TrainingRun
    from evaluator.tests.conftest import _restore

    _restore(trained)
    return TrainingRun.objects.get(pk=trained["run"]["id"])


@pytest.fixture
def active_run_committed(catalog_committed, trained):
    """The same for transactional tests (live server)."""
    from evaluator.models import TrainingRun
    from evaluator.tests.conftest import _restore

    _restore(trained)
    return TrainingRun.objects.get(pk=trained["run"]["id"])


@pytest.fixture
def fake_gemini(settings):
    """A fake Gemini server, with the settings pointing at it and the Gemini comment backend."""
    from testsupport.fake_gemini import FakeGemini

    server = FakeGemini().start()
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = server.base_url
    settings.EVALUATOR_COMMENT_BACKEND = "gemini"
    settings.EVALUATOR_GEMINI_TIMEOUT = 1.0
    settings.EVALUATOR_GEMINI_RETRIES = 3
    yield server
    server.stop()


# ---------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium for one test module (testsupport/browser.py)."""
    from playwright.sync_api import sync_playwright

    from testsupport.browser import chromium_launch

    # Playwright's sync API runs an event loop in this thread; Django's ORM would otherwise refuse
    # to run here, thinking it is inside async code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = chromium_launch(playwright)
        yield launched
        launched.close()
