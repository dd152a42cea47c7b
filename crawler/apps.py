from __future__ import annotations

from django.apps import AppConfig


class CrawlerConfig(AppConfig):
    """Registered so Celery's autodiscovery finds ``crawler.tasks`` (the weekly crawl)."""

    name = "crawler"
    verbose_name = "Crawler"
