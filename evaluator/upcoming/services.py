"""Writes of the upcoming anime: ``upcoming_refresh`` predicts every catalogue anime with no score
yet with the active run's model and replaces the stored predictions in one transaction (readers
see the old set or the new one, never half of each)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Anime
from catalog.selectors import anime_follows_graph, anime_related_graph
from evaluator.dataset import anime_input
from evaluator.features import embed_inputs
from evaluator.models import TrainingRun, UpcomingPrediction, season_key
from evaluator.predictor import ArtifactUnreadable, predictor_for
from evaluator.upcoming.selectors import upcoming_anime
from jobs.services import Dispatched, task_dispatch

logger = logging.getLogger(__name__)

# Synopses embedded per call: the embedder's batch, and the progress bar's step.
BATCH = 32


@dataclass(frozen=True)
class UpcomingRefreshResult:
    run_id: int | None
    predicted: int
    removed: int
    seconds: float
    skipped: str = ""  # why nothing was predicted (no active model, its file unreadable)


def upcoming_refresh(*, progress: Callable[[int, int], None] | None = None) -> UpcomingRefreshResult:
    """Predict every anime with no score yet with the active run's model and store the
    predictions, replacing the previous ones (of any run). Embeddings go through the search
    app's cache, so a second refresh embeds only the synopses that changed. ``progress(done,
    total)`` after each batch."""
    started = time.perf_counter()
    run = TrainingRun.objects.active()
    if run is None:
        return UpcomingRefreshResult(None, 0, 0, 0.0, skipped="no active model")
    try:
        predictor = predictor_for(run.pk, run.artifact)
    except ArtifactUnreadable as error:
        logger.error("upcoming: the active run %s cannot be loaded: %s", run.pk, error)
        return UpcomingRefreshResult(run.pk, 0, 0, 0.0, skipped=f"run {run.pk}'s model cannot be loaded")
    anime = list(upcoming_anime())
    now = timezone.now()
    rows: list[UpcomingPrediction] = []
    graph, related = anime_follows_graph(), anime_related_graph()  # once, not once per anime
    for start in range(0, len(anime), BATCH):
        batch = anime[start : start + BATCH]
        items = [anime_input(a, graph, related) for a in batch]
        embeddings = embed_inputs(items, predictor.spec, cached=True)
        for position, (one, item) in enumerate(zip(batch, items, strict=True)):
            prediction = predictor.predict(item, embedding=embeddings[position : position + 1])
            rows.append(
                UpcomingPrediction(
                    anime=one,
                    run=run,
                    season_key=season_key(one.year, one.season, airing=one.status == Anime.Status.AIRING),
                    tier=prediction.tier,
                    tier_set=prediction.tier_set,
                    tier_set_level=prediction.set_level,
                    probabilities=prediction.probabilities,
                    predicted_score=prediction.predicted_score,
                    reasons=[r.as_dict() for r in prediction.reasons],
                    computed_at=now,
                )
            )
        if progress:
            progress(len(rows), len(anime))
    with transaction.atomic():
        # Two refreshes at once (a crawl's and a training's) take turns here, so the second
        # deletes the first's rows instead of colliding with them.
        TrainingRun.objects.select_for_update().filter(pk=run.pk).first()
        removed, _ = UpcomingPrediction.objects.all().delete()
        UpcomingPrediction.objects.bulk_create(rows, batch_size=500)
    seconds = round(time.perf_counter() - started, 2)
    logger.info("upcoming: %s anime predicted with run %s in %.1f s", len(rows), run.pk, seconds)
    return UpcomingRefreshResult(run.pk, len(rows), removed, seconds)


def upcoming_refresh_dispatch() -> Dispatched | None:
    """Hand a refresh to a worker (after a training activated a run, after a crawl). Off where
    ``UPCOMING_AUTO_REFRESH`` is false (the tests refresh when they mean to)."""
    if not settings.UPCOMING_AUTO_REFRESH:
        return None
    return task_dispatch("evaluator.tasks.upcoming_refresh")
