from __future__ import annotations

from django.contrib import admin

from jobs.models import PendingTask


@admin.register(PendingTask)
class PendingTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "task_name", "attempts", "created_at", "last_attempt_at")
    list_filter = ("task_name",)
    readonly_fields = ("task_name", "args", "kwargs", "error", "attempts", "created_at", "last_attempt_at")
