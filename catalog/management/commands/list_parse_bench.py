"""``python manage.py list_parse_bench``: what hostile list exports cost the process that reads them.

Builds in memory the element bomb (10 million empty elements, ~40 KB of gzip), the deep-nesting
file (5.5 million deep, ~40 KB), an entry bomb, a 30 MB tag, a million distinct names, the
largest shape the element cap lets through, and a 30,000-entry export in MyAnimeList's real
format; then runs each through the real upload path, each in a fresh forked process:
``list_upload_parse`` itself (``parse``) and ``POST /api/list/`` through Django's test client
(``api``: multipart parsing, the parser, storing the list in the session; inside a transaction
rolled back at the end, so the database keeps nothing). Prints the outcome, the wall time and the
growth of the process's resident memory (peak RSS, from /proc/self/status VmHWM, reset through
/proc/self/clear_refs, minus the RSS at the start).
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from django.test import Client
from django.test.utils import override_settings
from rest_framework.throttling import SimpleRateThrottle

from catalog.lists import samples
from catalog.lists.parsing import ListFileError, list_upload_parse

CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "element-bomb": ("10,000,000 empty elements under the root", samples.element_bomb),
    "deep-nesting": ("elements nested 5,500,000 deep", samples.deep_nesting),
    "entry-bomb": ("10,000,000 empty <anime/> entries", samples.entry_bomb),
    "long-tag": ("one tag with a 30 MB attribute", samples.long_tag),
    "many-names": ("1,000,000 elements of distinct names", samples.many_names),
    "element-cap": ("30,000 entries of 47 fields (1.44 M elements)", lambda: samples.field_bomb(30_000, 47)),
    "real-export": ("30,000 entries in MyAnimeList's format", lambda: samples.gzip_of(samples.export_sample(30_000))),
}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _peak_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass  # then VmHWM is the child's peak since the fork, still an upper bound


def _parse(data: bytes) -> str:
    try:
        parsed = list_upload_parse(data)
    except ListFileError as error:
        return f"refused: {error}"
    return f"read {len(parsed.entries):,} entries"


def _post(data: bytes) -> str:
    upload = io.BytesIO(data)
    upload.name = "animelist.xml.gz"
    with override_settings(ALLOWED_HOSTS=["localhost"]), transaction.atomic():
        response = Client(SERVER_NAME="localhost").post("/api/list/", {"file": upload})
        transaction.set_rollback(True)
    body = response.json()
    if response.status_code == 201:
        return f"201, {body['summary']['entries']:,} entries"
    return f"{response.status_code}: {(body.get('file') or [body])[0]}"


def _child(conn: Any, job: Callable[[bytes], str], data: bytes) -> None:
    logging.getLogger("django.request").setLevel(logging.ERROR)  # each refusal would log a warning
    _peak_reset()
    start = _status_kb("VmRSS")
    began = time.perf_counter()
    outcome = job(data)
    seconds = time.perf_counter() - began
    conn.send({"outcome": outcome, "seconds": round(seconds, 3), "rss_growth_mb": (_status_kb("VmHWM") - start) / 1024})
    conn.close()


def _measure(job: Callable[[bytes], str], data: bytes) -> dict[str, Any]:
    """Run ``job(data)`` in a forked process (a clean peak) and return its figures."""
    if job is _post:
        connections.close_all()  # the child opens its own rather than sharing the parent's
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, job, data))
    process.start()
    sender.close()
    result = receiver.recv()
    process.join()
    return result


class Command(BaseCommand):
    help = (
        "What hostile list exports (element bomb, deep nesting, …) and a 30,000-entry real export cost: "
        "time and resident-memory growth through list_upload_parse and POST /api/list/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--via", choices=("parse", "api", "both"), default="both")
        parser.add_argument("--cases", default=",".join(CASES), help=f"Comma-separated, of: {', '.join(CASES)}.")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        names = [n.strip() for n in options["cases"].split(",") if n.strip()]
        unknown = sorted(set(names) - set(CASES))
        if unknown:
            raise CommandError(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}.")
        jobs = {"parse": _parse, "api": _post}
        vias = list(jobs) if options["via"] == "both" else [options["via"]]
        # The throttles would count the bench's requests like a visitor's.
        SimpleRateThrottle.THROTTLE_RATES = dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES)
        report: list[dict[str, Any]] = []
        for name in names:
            description, build = CASES[name]
            data = build()
            for via in vias:
                figures = _measure(jobs[via], data)
                row = {"case": name, "what": description, "gzip_bytes": len(data), "via": via, **figures}
                report.append(row)
                if not options["json"]:
                    self.stdout.write(
                        f"{name:13} {via:5} {len(data) / 1024:8,.0f} KB gzip  {figures['seconds']:6.2f} s  "
                        f"RSS +{figures['rss_growth_mb']:6.1f} MB  {figures['outcome'][:110]}"
                    )
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
