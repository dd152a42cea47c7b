"""Tasks of the jobs tests: they record how they were called (and in which thread), and the long
one waits until the test lets it go, so a test can see that its caller did not wait."""

from __future__ import annotations

import threading

from celery import shared_task

from jobs.services import BackgroundTask

calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []  # (thread, args, kwargs)
release = threading.Event()


@shared_task(name="jobs.tests.tasks.record")
def record(*args: object, **kwargs: object) -> None:
    calls.append((threading.current_thread().name, args, kwargs))


@shared_task(name="jobs.tests.tasks.record_later", base=BackgroundTask)
def record_later(*args: object, **kwargs: object) -> None:
    if not release.wait(timeout=60):
        raise TimeoutError("the test never released the task")
    calls.append((threading.current_thread().name, args, kwargs))


@shared_task(name="jobs.tests.tasks.fail_later", base=BackgroundTask)
def fail_later() -> None:
    release.wait(timeout=60)
    raise RuntimeError("the long task failed")
