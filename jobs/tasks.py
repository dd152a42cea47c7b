from __future__ import annotations

from celery import shared_task

from jobs.services import pending_tasks_retry


@shared_task(name="jobs.tasks.pending_tasks_retry", ignore_result=True)
def pending_tasks_retry_task() -> dict[str, int]:
    """Beat: send the calls recorded while the broker was down (a no-op when there are none)."""
    stats = pending_tasks_retry()
    return {"sent": stats.sent, "failed": stats.failed}
