from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from jobs.models import PendingTask
from jobs.services import pending_tasks_retry


class Command(BaseCommand):
    help = "Send the Celery tasks recorded while the broker was unreachable."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args: object, limit: int, **options: object) -> None:
        before = PendingTask.objects.count()
        stats = pending_tasks_retry(limit=limit)
        left = PendingTask.objects.count()
        self.stdout.write(f"pending before: {before}; sent: {stats.sent}; still pending: {left}")
        if stats.failed:
            self.stderr.write("the broker is still unreachable; the rest stay recorded")
