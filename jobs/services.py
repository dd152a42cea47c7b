"""The one way the site hands work to Celery: ``task_dispatch(name, *args, **kwargs)``.

One rule for every task, by name (services name tasks; they never import them):

- a broker is configured: the task is published. A broker outage must never reach a user: the
  call is recorded as a ``PendingTask`` (logged) and ``pending_tasks_retry`` sends it once the
  broker is back (the ``retry_pending_tasks`` command, and the beat task
  ``jobs.tasks.pending_tasks_retry``);
- no broker (``make run``, tests: Celery eager): the task runs in this process, at once, or, when
  its base is ``BackgroundTask`` (a training, a Gemini comment, a crawl: seconds to hours), in a
  daemon thread, so no request waits for it.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from celery import Task, current_app
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import close_old_connections, transaction
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


class BackgroundTask(Task):
    """Base of the long tasks (a training, a Gemini comment, a crawl: seconds to hours). With a
    broker it is published like any task; without one it runs in a daemon thread of this process
    instead of inline, so no request waits for it."""

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            return super().apply_async(args, kwargs, **options)
        thread = threading.Thread(
            target=_run_in_background,
            args=(self, tuple(args or ()), dict(kwargs or {})),
            name=f"task {self.name}",
            daemon=True,
        )
        thread.start()
        return None


def _run_in_background(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        task.apply(args=args, kwargs=kwargs, throw=True)
    except Exception:
        logger.exception("background task %s failed", task.name)
    finally:
        close_old_connections()


@dataclass(frozen=True)
class Dispatched:
    """How a task call was handed over: published ("queued"), run here ("inline"), started in a
    thread here ("background"), or kept for later because the broker was down ("recorded")."""

    how: Literal["queued", "inline", "background", "recorded"]
    pending: PendingTask | None = None

    @property
    def sent(self) -> bool:
        return self.how != "recorded"


def task_get(name: str) -> Task:
    """The registered task ``name``. Task names are their module's path, so a task whose module
    nobody imported yet (Celery registers a task when its module is imported) is imported here."""
    try:
        return current_app.tasks[name]
    except NotRegistered:
        importlib.import_module(name.rpartition(".")[0])
        return current_app.tasks[name]


def task_dispatch(name: str, *args: object, **kwargs: object) -> Dispatched:
    """Run or queue the task ``name`` with JSON arguments (the tasks take ids), by the rule above."""
    task = task_get(name)
    try:
        # Without a broker Celery runs it here (a BackgroundTask: in a thread); with one it is published.
        task.apply_async(args=args, kwargs=kwargs, retry_policy=PUBLISH_RETRY_POLICY)
    except BROKER_ERRORS as error:
        logger.warning("broker unreachable, recording %s for a later retry: %s", name, error)
        pending = PendingTask.objects.create(
            task_name=name, args=list(args), kwargs=dict(kwargs), error=f"{type(error).__name__}: {error}"[:2000]
        )
        return Dispatched("recorded", pending=pending)
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return Dispatched("queued")
    return Dispatched("background" if isinstance(task, BackgroundTask) else "inline")


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
            try:
                task = task_get(name)
            except (NotRegistered, ImportError):
                task = None
            try:
                if task is not None:  # the broker is back: published (or, eager, run here)
                    task.apply_async(args=args, kwargs=kwargs, retry_policy=PUBLISH_RETRY_POLICY)
                else:  # a task this process does not know: the workers may
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
