"""``manage.py crawl_bench``: crawl throughput against a local generator of real pages.

Serves N list pages of R rows each (default 100 x 25) and, for ``mal``, one detail page per row
(the recorded Trigun 2026/2022 and Ao no Hako pages with the id and title varied): 100 list
pages + 2,500 detail pages; for ``jikan``, the whole-catalogue walk (``/anime`` in MAL id order)
and one ``/anime/{id}/relations`` per anime, each the sequel of the row before it: 100 list
pages + 2,500 relations. Runs the real ``manage.py crawl <spider> --no-throttle`` in a
subprocess into a scratch SQLite database (or --database-url) and prints pages/s and items/s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crawler.tests.fakesource import serve


class Command(BaseCommand):
    help = "Measure crawl throughput (pages/s, items/s) against a local generator of real pages, throttling off."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spider", choices=("mal", "jikan", "both"), default="mal")
        parser.add_argument("--pages", type=int, default=100, help="list pages (default 100)")
        parser.add_argument("--rows", type=int, default=25, help="rows per list page (default 25: 2,500 anime)")
        parser.add_argument(
            "--database-url", default="", help="database to crawl into (default: a scratch SQLite file)"
        )
        parser.add_argument(
            "--fixtures",
            type=Path,
            default=Path(settings.BASE_DIR).parent / "shared" / "fixtures",
            help="the recorded pages (default ../shared/fixtures)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pages"] < 1 or options["rows"] < 1:
            raise CommandError("--pages and --rows must be >= 1")
        fixtures: Path = options["fixtures"]
        if not (fixtures / "mal" / "anime-6-trigun.html").is_file():
            raise CommandError(f"{fixtures} does not hold the recorded pages (mal/, jikan/)")
        spiders = ("mal", "jikan") if options["spider"] == "both" else (options["spider"],)
        with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp:
            for spider in spiders:
                self.bench(spider, options, fixtures, Path(tmp))

    def bench(self, spider: str, options: dict[str, Any], fixtures: Path, tmp: Path) -> None:
        url = options["database_url"] or f"sqlite:///{tmp / f'bench-{spider}.sqlite3'}"
        env = {**os.environ, "DATABASE_URL": url, "ANIMESITE_VAR_DIR": str(tmp), "SEARCH_AUTO_INDEX": "0"}
        env.pop("CELERY_BROKER_URL", None)
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=settings.BASE_DIR)
        with serve(fixtures, bench_pages=options["pages"], bench_rows=options["rows"]) as (base_url, sources):
            env |= {"JIKAN_BASE_URL": f"{base_url}/v4", "MAL_BASE_URL": base_url}
            self.stdout.write(
                f"{spider}: {options['pages']} list pages x {options['rows']} rows from {base_url}"
                + (" + one detail page per row" if spider == "mal" else " + one relations request per row")
            )
            started = time.monotonic()
            done = subprocess.run(
                [*manage, "crawl", spider, "--no-throttle", "--min-members", "0", "--progress-interval", "10"],
                env=env,
                cwd=settings.BASE_DIR,
                stdout=subprocess.PIPE,
                text=True,
            )
            wall = time.monotonic() - started
            served = len(sources.requests)
        self.stdout.write(done.stdout.rstrip())
        if done.returncode != 0:
            raise CommandError(f"the {spider} crawl failed (exit {done.returncode})")
        match = re.search(r"Crawled ([\d,]+) pages, ([\d,]+) anime in ([\d.]+)s", done.stdout)
        if match:
            pages, items, seconds = int(match[1].replace(",", "")), int(match[2].replace(",", "")), float(match[3])
            self.stdout.write(
                self.style.SUCCESS(
                    f"{spider}: {items:,} items, {pages:,} pages ({served:,} requests served) in {seconds:.1f}s crawl time: "
                    f"{items / seconds:.1f} items/s, {pages / seconds:.1f} pages/s "
                    f"({wall:.1f}s wall with process start-up)"
                )
            )
