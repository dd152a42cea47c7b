"""Celery tasks of the evaluator: they take ids and call services. The long ones are
``BackgroundTask``s: without a broker they run in a thread, never inside a request."""

from __future__ import annotations

import logging

from celery import shared_task

from evaluator.models import TrainingRun
from evaluator.services import (
    RetrainInProgress,
    evaluation_comment_refresh,
    training_run_execute,
    training_run_start,
)
from evaluator.upcoming.services import upcoming_refresh as upcoming_refresh_service
from jobs.services import BackgroundTask

logger = logging.getLogger(__name__)


@shared_task(name="evaluator.tasks.evaluation_comment", ignore_result=True, base=BackgroundTask)
def evaluation_comment(evaluation_id: str) -> bool:
    """Replace an evaluation's offline comment with Gemini's (the offline one stays on failure)."""
    return evaluation_comment_refresh(evaluation_id=evaluation_id)


@shared_task(name="evaluator.tasks.retrain", ignore_result=True, base=BackgroundTask)
def retrain(run_id: int, folds: int = 5) -> int | None:
    """Train into a run claimed by ``training_run_start``."""
    run = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).first()
    if run is None:
        logger.warning("Retrain: run %s is not waiting to run", run_id)
        return None
    training_run_execute(run=run, folds=folds)
    return run.pk


@shared_task(name="evaluator.tasks.retrain_scheduled", ignore_result=True)
def retrain_scheduled() -> int | None:
    """Weekly retraining (Celery beat). Refused, and logged, while another training runs."""
    try:
        run = training_run_start(triggered_by=TrainingRun.Trigger.SCHEDULE)
    except RetrainInProgress as refused:
        logger.info("Scheduled retrain skipped: %s", refused)
        return None
    return run.pk


@shared_task(name="evaluator.tasks.upcoming_refresh", ignore_result=True, time_limit=1800, soft_time_limit=1740)
def upcoming_refresh() -> int:
    """Predict the upcoming anime with the active model (after a training, after a crawl). A
    plain task: without a broker it runs where it was asked for, the training's thread or the
    crawl command's process, both already off any request."""
    return upcoming_refresh_service().predicted
