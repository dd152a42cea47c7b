from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Connection

from conftest import BrokerQueue, dead_port
from jobs.tests import tasks


class Broker:
    """A Celery app of the test's own, current while the test runs, that publishes to a queue of
    the test's own on the real Redis broker (``celery_test_broker``). ``down()`` points it at a
    port nothing listens on (connections refused, as when Redis is stopped), ``up()`` back."""

    def __init__(self, app: Celery, queue: BrokerQueue) -> None:
        self.app = app
        self.queue = queue

    def down(self) -> None:
        self._use(f"redis://127.0.0.1:{dead_port()}/0")

    def up(self) -> None:
        self._use(self.queue.url)

    def _use(self, url: str) -> None:
        self.release()  # its connection and producer pools were made for the other URL
        self.app.conf.broker_url = url

    def release(self) -> None:
        """Let go of the app's connection and producer pools: the next publish makes them for the
        URL in force. (They are kombu's, shared per URL in ``kombu.pools``: dropped, not closed.)"""
        self.app._pool = None
        self.app.amqp._producer_pool = None

    def messages(self) -> list[tuple[str, list[object], dict[str, object]]]:
        """The messages on the test's queue, oldest first, as (task name, args, kwargs); taken off it."""
        found = []
        with Connection(self.queue.url) as connection:
            queue = connection.SimpleQueue(self.queue.queue)
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    args, kwargs, _ = message.payload
                    found.append((message.headers["task"], args, kwargs))
                    message.ack()
            finally:
                queue.close()
        return found


@pytest.fixture
def broker(celery_test_broker: BrokerQueue, settings) -> Iterator[Broker]:
    """Tasks go to a broker (the state of ``up()``/``down()``; down at first). The project's app
    keeps its eager configuration for the other tests."""
    from animesite.celery import app as project_app

    settings.CELERY_TASK_ALWAYS_EAGER = False  # what jobs.services reads: a broker is configured
    app = Celery("jobs-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(task_always_eager=False, task_default_queue=celery_test_broker.queue)
    app.set_current()
    app.set_default()
    broker = Broker(app, celery_test_broker)
    broker.down()
    try:
        yield broker
    finally:
        project_app.set_current()
        project_app.set_default()
        broker.release()
        app.close()


@pytest.fixture
def recorded() -> Iterator[list[tuple[str, tuple[object, ...], dict[str, object]]]]:
    """The calls the test tasks (jobs/tests/tasks.py) record, empty at the start of the test."""
    tasks.calls.clear()
    tasks.release.clear()
    try:
        yield tasks.calls
    finally:
        tasks.release.set()  # a long task a failed test left waiting ends
        tasks.calls.clear()
