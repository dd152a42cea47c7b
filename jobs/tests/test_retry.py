"""Calls recorded while the broker was down (``PendingTask``) are sent again once it is back:
``manage.py retry_pending_tasks`` and the beat task ``jobs.tasks.pending_tasks_retry``, both
``jobs.services.pending_tasks_retry``. A send that fails keeps the call, counts the attempt and
ends the run (the broker is evidently still down)."""

from __future__ import annotations

from io import StringIO

from django.conf import settings
from django.core.management import call_command

from jobs.models import PendingTask
from jobs.services import task_dispatch
from jobs.tasks import pending_tasks_retry_task
from jobs.tests.conftest import Broker

RECORD = "jobs.tests.tasks.record"
LONG = "jobs.tests.tasks.record_later"


def retry(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("retry_pending_tasks", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def record_while_down() -> list[PendingTask]:
    """Two calls made while the broker is down, the oldest first."""
    assert task_dispatch(RECORD, [1535, 5114]).how == "recorded"
    assert task_dispatch(LONG, 7, spider="mal").how == "recorded"
    return list(PendingTask.objects.all())


def test_it_sends_the_recorded_calls_once_the_broker_is_back(db, broker: Broker, recorded) -> None:
    record_while_down()
    broker.up()
    assert retry() == ("pending before: 2; sent: 2; still pending: 0\n", "")
    assert broker.messages() == [(RECORD, [[1535, 5114]], {}), (LONG, [7], {"spider": "mal"})]
    assert not PendingTask.objects.exists()
    assert recorded == []  # published for a worker, not run here
    assert retry() == ("pending before: 0; sent: 0; still pending: 0\n", "")


def test_it_keeps_a_call_and_counts_the_attempt_while_the_broker_is_still_down(db, broker: Broker) -> None:
    first, second = record_while_down()
    PendingTask.objects.filter(pk=first.pk).update(error="")
    assert retry() == (
        "pending before: 2; sent: 0; still pending: 2\n",
        "the broker is still unreachable; the rest stay recorded\n",
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.task_name, first.args, first.attempts) == (RECORD, [[1535, 5114]], 2)
    assert first.error.startswith("OperationalError: ") and "Connection refused" in first.error
    # The first failure ended the run: the next call was not tried.
    assert second.attempts == 1
    retry()
    first.refresh_from_db()
    assert first.attempts == 3
    broker.up()
    assert broker.messages() == []
    assert retry()[0] == "pending before: 2; sent: 2; still pending: 0\n"
    assert [name for name, _, _ in broker.messages()] == [RECORD, LONG]


def test_it_sends_at_most_limit_calls_oldest_first(db, broker: Broker) -> None:
    record_while_down()
    broker.up()
    assert retry("--limit", "1") == ("pending before: 2; sent: 1; still pending: 1\n", "")
    assert broker.messages() == [(RECORD, [[1535, 5114]], {})]
    assert list(PendingTask.objects.values_list("task_name", flat=True)) == [LONG]


def test_it_sends_a_task_this_process_does_not_know_by_its_name(db, broker: Broker) -> None:
    # Recorded by another version of the site, or a task only the workers import.
    PendingTask.objects.create(task_name="elsewhere.tasks.refresh", args=[1], kwargs={"full": True})
    PendingTask.objects.create(task_name="jobs.tasks.no_such_task", args=[], kwargs={})
    broker.up()
    assert retry()[0] == "pending before: 2; sent: 2; still pending: 0\n"
    assert broker.messages() == [("elsewhere.tasks.refresh", [1], {"full": True}), ("jobs.tasks.no_such_task", [], {})]


def test_it_retries_from_the_beat_task(db, broker: Broker) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["jobs-pending-retry"]["task"] == "jobs.tasks.pending_tasks_retry"
    record_while_down()
    assert pending_tasks_retry_task() == {"sent": 0, "failed": 1}
    broker.up()
    assert pending_tasks_retry_task() == {"sent": 2, "failed": 0}
    assert len(broker.messages()) == 2
    assert not PendingTask.objects.exists()
