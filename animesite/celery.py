from __future__ import annotations

import os

from celery import Celery

from animesite.logs import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animesite.settings")

app = Celery("animesite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Log lines of a task carry the request id of the web request that queued it.
connect_celery_signals()
