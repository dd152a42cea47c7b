"""Shared data of the evaluator's tests. The fixtures (a model trained once per session on a
slice of the real catalogue, artifacts in a temporary VAR_DIR, a fake Gemini server) live in the
root conftest.py, so every app's tests share one session-wide instance of each."""

from __future__ import annotations

TRAIN_LIMIT = 300
TRAIN_FOLDS = 3


def _restore(trained: dict[str, object]) -> None:
    from conftest import embedding_cache_restore
    from evaluator.models import TrainingRun

    fields = trained["run"]
    TrainingRun.objects.exclude(pk=fields["id"]).update(is_active=False)
    if not TrainingRun.objects.filter(pk=fields["id"]).exists():
        TrainingRun.objects.create(**fields)
    TrainingRun.objects.filter(pk=fields["id"]).update(is_active=True)
    embedding_cache_restore(trained["cache"], name="trained")


SYNOPSIS = (
    "A quiet high-school student discovers that the old shrine behind her house hides a door to a world of "
    "spirits. Each night she crosses over to help a fox god recover the memories he lost centuries ago, while "
    "at school she struggles to keep her friends from noticing that she is falling asleep in every class."
)
