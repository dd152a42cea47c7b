"""Deployment check: the sign-in throttle and the API's rate limits count in Django's cache, so a
production site with several workers needs a cache they share (Redis, ``REDIS_URL``); the
in-process cache would give each worker its own budget."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def shared_cache_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return [
            Warning(
                "The cache is per process (no REDIS_URL): each worker counts rate limits and sign-in "
                "attempts on its own, so a limit lets through workers x its rate.",
                hint="Set REDIS_URL (docker-compose.yml runs Redis).",
                id="animesite.W001",
            )
        ]
    return []
