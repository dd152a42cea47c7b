"""Fixtures of the evaluator's tests: a model trained once per session on a slice of the real
catalogue (3-fold, first 300 scored anime: ~1 minute including their embeddings), artifacts in
a temporary VAR_DIR, and a fake Gemini server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache

TRAIN_LIMIT = 300
TRAIN_FOLDS = 3


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
def trained(django_db_setup, django_db_blocker) -> dict[str, object]:
    """Train once per session (all candidates) and keep a snapshot of the run row and the
    embedding-cache rows, so a test after a database flush can put them back."""
    from catalog.models import EmbeddingCache
    from evaluator.models import TrainingRun
    from evaluator.services import training_run_train

    with django_db_blocker.unblock():
        run = training_run_train(triggered_by=TrainingRun.Trigger.TEST, folds=TRAIN_FOLDS, limit=TRAIN_LIMIT)
        fields = {f.attname: getattr(run, f.attname) for f in TrainingRun._meta.concrete_fields}
        cache_rows = list(EmbeddingCache.objects.values_list("backend", "model", "dimension", "text_sha256", "vector"))
    return {"run": fields, "cache": cache_rows}


def _restore(trained: dict[str, object]) -> None:
    from catalog.models import EmbeddingCache
    from evaluator.models import TrainingRun

    fields = trained["run"]
    TrainingRun.objects.exclude(pk=fields["id"]).update(is_active=False)
    if not TrainingRun.objects.filter(pk=fields["id"]).exists():
        TrainingRun.objects.create(**fields)
    TrainingRun.objects.filter(pk=fields["id"]).update(is_active=True)
    if EmbeddingCache.objects.count() < len(trained["cache"]):
        EmbeddingCache.objects.bulk_create(
            [
                EmbeddingCache(backend=b, model=m, dimension=d, text_sha256=s, vector=v)
                for b, m, d, s, v in trained["cache"]
            ],
            ignore_conflicts=True,
        )


@pytest.fixture
def active_run(catalog, trained):
    """The session's trained run, active (``db`` tests)."""
    from evaluator.models import TrainingRun

    _restore(trained)
    return TrainingRun.objects.get(pk=trained["run"]["id"])


@pytest.fixture
def active_run_committed(catalog_committed, trained):
    """The same for transactional tests (live server)."""
    from evaluator.models import TrainingRun

    _restore(trained)
    return TrainingRun.objects.get(pk=trained["run"]["id"])


@pytest.fixture
def fake_gemini(settings):
    """A fake Gemini server, with the settings pointing at it and the Gemini comment backend."""
    from evaluator.tests.fake_gemini import FakeGemini

    server = FakeGemini().start()
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_BASE_URL = server.base_url
    settings.EVALUATOR_COMMENT_BACKEND = "gemini"
    settings.EVALUATOR_GEMINI_TIMEOUT = 1.0
    settings.EVALUATOR_GEMINI_RETRIES = 3
    yield server
    server.stop()


SYNOPSIS = (
    "A quiet high-school student discovers that the old shrine behind her house hides a door to a world of "
    "spirits. Each night she crosses over to help a fox god recover the memories he lost centuries ago, while "
    "at school she struggles to keep her friends from noticing that she is falling asleep in every class."
)
