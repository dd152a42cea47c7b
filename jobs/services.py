"""The one way the site hands work to Celery: ``task_enqueue``.

A broker outage must never reach a user: when Redis cannot be reached the call is recorded as
a ``PendingTask`` (logged) and ``pending_tasks_retry`` sends it once the broker is back (the
``retry_pending_tasks`` command, and the beat task ``jobs.tasks.pending_tasks_retry``). Without a
broker configured (eager mode) Celery runs the task inline, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from celery import Task, current_app
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from jobs.models import PendingTask

logger = logging.getLogger(__name__)

try:  # redis-py's errors, when publishing does not wrap them
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    BROKER_ERRORS: tuple[type[BaseException], ...] = (
        KombuOperationalError,
        RedisConnectionError,
        RedisTimeoutError,
        ConnectionError,
        TimeoutError,
        OSError,
    )
except ImportError:  # pragma: no cover - redis is a runtime dependency
    BROKER_ERRORS = (KombuOperationalError, ConnectionError, TimeoutError, OSError)

# Publishing gives up quickly: a user request is waiting (the default policy retries for ~1 s
# with connection setup each time; a dead host could hold it for the socket timeout).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


@dataclass(frozen=True)
class EnqueueResult:
    sent: bool
    pending: PendingTask | None = None


def task_enqueue(task: Task | str, *args: object, **kwargs: object) -> EnqueueResult:
    """``task.delay(*args, **kwargs)`` that survives a broker outage: the call is recorded and
    ``sent`` is False. Arguments must be JSON (the tasks take ids)."""
    name = task if isinstance(task, str) else task.name
    try:
        if isinstance(task, str):
            current_app.send_task(name, args=list(args), kwargs=kwargs, retry_policy=PUBLISH_RETRY_POLICY)
        else:
            task.apply_async(args=args, kwargs=kwargs, retry_policy=PUBLISH_RETRY_POLICY)
        return EnqueueResult(sent=True)
    except BROKER_ERRORS as error:
        logger.warning("broker unreachable, recording %s for a later retry: %s", name, error)
        pending = PendingTask.objects.create(
            task_name=name, args=list(args), kwargs=dict(kwargs), error=f"{type(error).__name__}: {error}"[:2000]
        )
        return EnqueueResult(sent=False, pending=pending)


@dataclass(frozen=True)
class RetryStats:
    sent: int
    failed: int


def pending_tasks_retry(*, limit: int = 500) -> RetryStats:
    """Send the recorded calls again, oldest first. Each row is claimed by deleting it (only one
    process gets it) and recorded again if the broker is still down; the first failure stops
    the run, since the broker is evidently still unreachable."""
    sent = failed = 0
    for pk in list(PendingTask.objects.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            row = PendingTask.objects.select_for_update().filter(pk=pk).first()
            if row is None:  # another process sent it first
                continue
            name, args, kwargs = row.task_name, list(row.args), dict(row.kwargs)
            task = current_app.tasks.get(name)
            try:
                if task is not None:  # honours eager mode, like the original call
                    task.apply_async(args=args, kwargs=kwargs, retry_policy=PUBLISH_RETRY_POLICY)
                else:
                    current_app.send_task(name, args=args, kwargs=kwargs, retry_policy=PUBLISH_RETRY_POLICY)
            except BROKER_ERRORS as error:
                PendingTask.objects.filter(pk=pk).update(
                    attempts=row.attempts + 1, error=f"{type(error).__name__}: {error}"[:2000]
                )
                failed += 1
                break
            row.delete()
            sent += 1
    if sent or failed:
        logger.info("pending tasks: %s sent, %s still waiting for the broker", sent, failed)
    return RetryStats(sent=sent, failed=failed)


def pending_summary() -> Mapping[str, int]:
    """Pending calls per task name (for the admin and health output)."""
    counts: dict[str, int] = {}
    for name in PendingTask.objects.values_list("task_name", flat=True):
        counts[name] = counts.get(name, 0) + 1
    return counts
