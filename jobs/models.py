"""Work that could not be handed to Celery because the broker was unreachable."""

from __future__ import annotations

from django.db import models


class PendingTask(models.Model):
    """A task call recorded while the broker was down; ``retry_pending_tasks`` (a management
    command, and a Celery beat task once the broker is back) sends it again."""

    task_name = models.CharField(max_length=200, db_index=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="Why the last attempt to enqueue failed.")
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)!r}"
