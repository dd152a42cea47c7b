"""How fast the upcoming page, its partials and its API answer (Django's test client in this
process, the database as configured): p50/p95 per kind of request and its query count. Needs
stored predictions (``refresh_upcoming``)."""

from __future__ import annotations

import logging
import os
import statistics
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from evaluator.models import UpcomingPrediction

REQUESTS = (
    # Browse renders the same filter form over the whole catalogue: the reference on this machine.
    ("/anime/ (browse, reference)", "/anime/"),
    ("/upcoming/", "/upcoming/"),
    ("/upcoming/ page 2", "/upcoming/?page=2"),
    ("/upcoming/ genre + type", "/upcoming/?genre=Action&type=TV"),
    ("/upcoming/ predicted tier", "/upcoming/?tier=worthwhile"),
    ("/upcoming/ results partial (HTMX)", "/upcoming/?genre=Comedy"),
    ("/upcoming/promising/ (home strip)", "/upcoming/promising/"),
    ("/api/upcoming/", "/api/upcoming/"),
    ("/api/upcoming/ genre", "/api/upcoming/?genre=Action"),
)


class Command(BaseCommand):
    help = "Measure the upcoming page and API (p50/p95 ms, queries)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=50, help="requests per kind (default 50)")

    def handle(self, *args: Any, **options: Any) -> None:
        repeat = options["repeat"]
        if repeat < 3:
            raise CommandError("--repeat: at least 3")
        stored = UpcomingPrediction.objects.count()
        if not stored:
            raise CommandError("no stored predictions: run refresh_upcoming first")
        logging.getLogger("animesite.request").setLevel(logging.WARNING)
        # Outside the tests "testserver" is not an allowed host: ask as the first one allowed.
        host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")), "localhost")
        client = Client(HTTP_HOST=host)
        self.stdout.write(
            f"{stored:,} stored predictions, {connection.vendor}; {repeat} requests per kind; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        width = max(len(name) for name, _ in REQUESTS)
        self.stdout.write(f"{'request':<{width}}  {'p50 ms':>7} {'p95 ms':>7} {'queries':>7}")
        for name, path in REQUESTS:
            headers = {"HTTP_HX_REQUEST": "true"} if "HTMX" in name else {}
            response = client.get(path, **headers)  # warm-up (caches, first query plans)
            if response.status_code != 200:
                raise CommandError(f"{path} answered {response.status_code}")
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(path, **headers)
                times.append((time.perf_counter() - started) * 1000)
            with CaptureQueriesContext(connection) as queries:
                client.get(path, **headers)
            times.sort()
            p95 = times[max(0, round(0.95 * (len(times) - 1)))]
            self.stdout.write(f"{name:<{width}}  {statistics.median(times):>7.1f} {p95:>7.1f} {len(queries):>7}")
        self.stdout.write(f"load average at the end {os.getloadavg()[0]:.2f}")
