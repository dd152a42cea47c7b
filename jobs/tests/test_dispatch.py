"""``task_dispatch``: one rule for every task. With a broker it is published; without one it runs
in the calling thread, or in a daemon thread for a long task (``BackgroundTask``). A broker that
is down is covered in animesite/tests/test_degrade.py and jobs/tests/test_retry.py."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from jobs.models import PendingTask
from jobs.services import Dispatched, task_dispatch
from jobs.tests import tasks
from jobs.tests.conftest import Broker

LONG = "jobs.tests.tasks.record_later"


def _thread(name: str) -> threading.Thread:
    [thread] = [t for t in threading.enumerate() if t.name == name]
    return thread


def test_it_runs_a_task_in_the_calling_thread_without_a_broker(db, recorded) -> None:
    assert settings.CELERY_TASK_ALWAYS_EAGER  # the test settings: no broker
    dispatched = task_dispatch("jobs.tests.tasks.record", [1535, 5114], full=True)
    assert dispatched == Dispatched("inline") and dispatched.sent
    assert recorded == [(threading.current_thread().name, ([1535, 5114],), {"full": True})]
    assert not PendingTask.objects.exists()


def test_it_runs_a_long_task_in_a_daemon_thread_without_waiting_for_it(db, recorded) -> None:
    dispatched = task_dispatch(LONG, 7, spider="mal")
    assert dispatched == Dispatched("background") and dispatched.sent
    # The task waits for tasks.release, so it cannot have run yet: the caller did not wait for it.
    assert recorded == []
    thread = _thread(f"task {LONG}")
    assert thread.daemon
    tasks.release.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert recorded == [(f"task {LONG}", (7,), {"spider": "mal"})]


def test_it_logs_a_long_task_that_fails_without_raising_into_the_caller(db, recorded, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="jobs.services"):
        assert task_dispatch("jobs.tests.tasks.fail_later") == Dispatched("background")
        thread = _thread("task jobs.tests.tasks.fail_later")
        tasks.release.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    [record] = caplog.records
    assert record.getMessage() == "background task jobs.tests.tasks.fail_later failed"
    assert record.exc_info is not None and str(record.exc_info[1]) == "the long task failed"


def test_it_publishes_every_task_when_there_is_a_broker(db, broker: Broker, recorded) -> None:
    broker.up()
    assert task_dispatch("jobs.tests.tasks.record", [1535, 5114]) == Dispatched("queued")
    # A long task too: the worker runs it, no thread here.
    assert task_dispatch(LONG, 7, spider="mal") == Dispatched("queued")
    assert not [t for t in threading.enumerate() if t.name == f"task {LONG}"]
    assert broker.messages() == [
        ("jobs.tests.tasks.record", [[1535, 5114]], {}),
        (LONG, [7], {"spider": "mal"}),
    ]
    assert recorded == []
    assert not PendingTask.objects.exists()


def test_it_records_the_call_when_the_broker_is_down(db, broker: Broker, recorded) -> None:
    dispatched = task_dispatch(LONG, 7, spider="mal")
    assert dispatched.how == "recorded" and dispatched.sent is False
    row = PendingTask.objects.get()
    assert dispatched.pending == row
    assert (row.task_name, row.args, row.kwargs, row.attempts) == (LONG, [7], {"spider": "mal"}, 1)
    assert row.error.startswith("OperationalError: ") and "Connection refused" in row.error
    assert recorded == []
    broker.up()
    assert broker.messages() == []
