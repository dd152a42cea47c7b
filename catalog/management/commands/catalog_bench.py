"""Benchmark: the catalogue's pages, API and admin on the catalogue as it is (the whole
MyAnimeList catalogue after ``import_anime``), in this process through Django's test client
(no network, no server: what the database and the code cost). Prints p50/p95 per request kind
and the database queries each makes.

    python manage.py catalog_bench [--repeat 30] [--json]

Targets (issue "the whole catalogue"): browse and API list pages with filters and sorts p50 <
100 ms; the admin change list with search and filters < 500 ms.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Anime

BROWSE = [
    ("browse: default (most members)", "/anime/"),
    ("browse: genre Action by score", "/anime/?genre=Action&sort=-score"),
    ("browse: two genres, from 2010, by year", "/anime/?genre=Comedy&genre=School&year_min=2010&sort=-year"),
    ("browse: tag, by title", "/anime/?tag=Post+Apocalypse&sort=title"),
    ("browse: movies, Top-tier", "/anime/?type=Movie&tier=top-tier"),
    ("browse: deep page (500)", "/anime/?page=500"),
    ("browse: excluded genres, score 6-8", "/anime/?exclude_genre=Kids&exclude_genre=Ecchi&score_min=6&score_max=8"),
]
API = [(name.replace("browse", "API"), path.replace("/anime/", "/api/anime/", 1)) for name, path in BROWSE]
ADMIN = [
    ("admin: change list", "/admin/catalog/anime/"),
    ("admin: search a title", "/admin/catalog/anime/?q=gundam"),
    ("admin: search + type + tier filters", "/admin/catalog/anime/?q=love&type__exact=TV&tier__exact=worthwhile"),
    ("admin: genre filter, page 20", "/admin/catalog/anime/?genres__id__exact=1&p=20"),
    ("admin: change page", "/admin/catalog/anime/{popular}/change/"),
]


class Command(BaseCommand):
    help = "Time the catalogue's browse pages, list API and admin change list (p50/p95, queries)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=30, help="Requests per kind (default 30).")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        repeat = int(options["repeat"])
        if repeat < 3:
            raise CommandError("--repeat: at least 3")
        count = Anime.objects.count()
        if count == 0:
            raise CommandError("the catalogue is empty: run import_anime first")
        popular = Anime.objects.exclude(members=None).order_by("-members").values_list("mal_id", flat=True).first()
        sparse = (
            Anime.objects.filter(synopsis="", members=None, score=None).values_list("mal_id", flat=True).first()
            or popular
        )
        details = [
            ("detail: popular anime", f"/anime/{popular}/"),
            ("detail: no synopsis, members or score", f"/anime/{sparse}/"),
        ]
        # One line per request would drown the figures.
        logging.getLogger("animesite.request").setLevel(logging.WARNING)
        # Outside the tests "testserver" is not an allowed host: ask as the first one allowed.
        host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")), "localhost")
        client = Client(HTTP_HOST=host)
        staff_client = Client(HTTP_HOST=host)
        staff, _ = get_user_model().objects.get_or_create(
            username="catalog-bench", defaults={"is_staff": True, "is_superuser": True}
        )
        staff_client.force_login(staff)
        load = os.getloadavg()
        self.stdout.write(
            f"{count:,} anime, {connection.vendor}; {repeat} requests per kind; load average {load[0]:.2f}"
        )
        rows = []
        for name, path in [*BROWSE, *details, *API]:
            rows.append(self.measure(client, name, path, repeat))
        for name, path in ADMIN:
            rows.append(self.measure(staff_client, name, path.format(popular=popular), repeat))
        staff.delete()
        if options["json"]:
            self.stdout.write(
                json.dumps({"anime": count, "vendor": connection.vendor, "load": load[0], "rows": rows}, indent=2)
            )
            return
        width = max(len(r["name"]) for r in rows)
        self.stdout.write(f"{'request':<{width}}  {'p50 ms':>7} {'p95 ms':>7} {'queries':>7}")
        for row in rows:
            self.stdout.write(
                f"{row['name']:<{width}}  {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['queries']:>7}"
            )
        self.stdout.write(f"load average at the end {os.getloadavg()[0]:.2f}")

    def measure(self, client: Client, name: str, path: str, repeat: int) -> dict[str, Any]:
        response = client.get(path)  # warm-up (caches, first query plans)
        if response.status_code != 200:
            raise CommandError(f"{path} answered {response.status_code}")
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        times.sort()
        return {
            "name": name,
            "path": path,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, round(0.95 * (len(times) - 1)))], 1),
            "queries": len(queries),
        }
