"""Latency benchmark of the evaluate page and API (offline comment), over real HTTP.

Serves the site on 127.0.0.1 from a thread of this process (Django's threaded WSGI server, as
the live-server tests use), then sends one client's requests: POST /evaluate/ (HTMX: the
result partial) and POST /api/evaluate/, each with a fresh 150-word synopsis (a catalogue
synopsis cut to 150 words with a varying prefix, so no result or embedding is served from
cache). Prints p50/p95 and the share spent in the model (embedding + prediction).
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db.models.functions import Length

from catalog.models import Anime
from catalog.search.embeddings import get_embedder
from evaluator.models import TrainingRun

WORDS = 150


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "p50/p95 of POST /evaluate/ and POST /api/evaluate/ for a 150-word synopsis (offline comment)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=30, help="requests per endpoint")
        parser.add_argument("--port", type=int, default=8131)
        parser.add_argument("--json", action="store_true")

    def synopses(self, count: int) -> list[str]:
        # Long synopses only (150 words are ~800+ characters): in the whole catalogue the median
        # synopsis has ~40 words, so a random sample of all of them holds too few.
        long_enough = Anime.objects.alias(length=Length("synopsis")).filter(length__gte=WORDS * 5)
        texts = [
            s
            for s in long_enough.order_by("?").values_list("synopsis", flat=True)[: count * 3]
            if len(s.split()) >= WORDS
        ]
        if len(texts) < count:
            raise CommandError("not enough long synopses in the catalogue")
        rng = random.Random(0)
        out = []
        for i, text in enumerate(texts[:count]):
            words = text.split()[: WORDS - 2]
            out.append(" ".join([f"Benchmark{i}", f"run{rng.randrange(10**9)}", *words]))
        return out

    def handle(self, *args: Any, **options: Any) -> None:
        if options["requests"] < 1:
            raise CommandError("--requests must be at least 1")
        if TrainingRun.objects.active() is None:
            raise CommandError("No active model: run `python manage.py train_classifier` first.")
        settings.EVALUATOR_COMMENT_BACKEND = "offline"
        # The benchmark is one client sending many requests: lift the API throttle in-process.
        from rest_framework.throttling import ScopedRateThrottle

        ScopedRateThrottle.THROTTLE_RATES = {**ScopedRateThrottle.THROTTLE_RATES, "evaluate": None}

        server = ThreadedWSGIServer(("127.0.0.1", options["port"]), QuietHandler, allow_reuse_address=True)
        server.set_app(get_wsgi_application())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{options['port']}"
        n = options["requests"]
        try:
            jar = CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            opener.open(f"{base}/evaluate/").read()  # warm up: model load, CSRF cookie
            token = next(c.value for c in jar if c.name == "csrftoken")
            texts = self.synopses(2 * n + 2)
            # Warm-up request on each endpoint (first embedding, template compilation).
            self.post_page(opener, base, token, texts.pop())
            self.post_api(base, texts.pop())
            embedder = get_embedder()
            embed = []
            for text in texts[:n]:
                started = time.perf_counter()
                embedder.embed_documents([text + " probe"])
                embed.append((time.perf_counter() - started) * 1000)
            page = [self.post_page(opener, base, token, texts.pop()) for _ in range(n)]
            api = [self.post_api(base, texts.pop()) for _ in range(n)]
        finally:
            server.shutdown()
            server.server_close()
        figures = {
            "embedding_alone_p50_ms": round(statistics.median(embed), 1),
            "page_evaluate_p50_ms": round(statistics.median(page), 1),
            "page_evaluate_p95_ms": round(percentile(page, 0.95), 1),
            "api_evaluate_p50_ms": round(statistics.median(api), 1),
            "api_evaluate_p95_ms": round(percentile(api, 0.95), 1),
            "requests_per_endpoint": n,
            "words": WORDS,
        }
        if options["json"]:
            self.stdout.write(json.dumps(figures))
            return
        self.stdout.write(f"{n} requests each, {WORDS}-word synopses, offline comment, one client, {base}")
        self.stdout.write(f"embedding alone (same texts)    p50 {figures['embedding_alone_p50_ms']:7.1f} ms")
        self.stdout.write(
            f"POST /evaluate/ (HTMX partial)  p50 {figures['page_evaluate_p50_ms']:7.1f} ms   p95 {figures['page_evaluate_p95_ms']:7.1f} ms"
        )
        self.stdout.write(
            f"POST /api/evaluate/             p50 {figures['api_evaluate_p50_ms']:7.1f} ms   p95 {figures['api_evaluate_p95_ms']:7.1f} ms"
        )

    def post_page(self, opener: urllib.request.OpenerDirector, base: str, token: str, synopsis: str) -> float:
        from urllib.parse import urlencode

        body = urlencode({"synopsis": synopsis, "genres": ["Action", "Drama"], "type": "TV"}, doseq=True).encode()
        request = urllib.request.Request(
            f"{base}/evaluate/",
            data=body,
            headers={"HX-Request": "true", "X-CSRFToken": token, "Referer": f"{base}/evaluate/"},
        )
        started = time.perf_counter()
        with opener.open(request) as response:
            content = response.read()
            status = response.status
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or b'class="verdict"' not in content:
            raise CommandError(f"POST /evaluate/ answered {status} without a result")
        return elapsed

    def post_api(self, base: str, synopsis: str) -> float:
        body = json.dumps({"synopsis": synopsis, "genres": ["Action", "Drama"], "type": "TV"}).encode()
        request = urllib.request.Request(
            f"{base}/api/evaluate/", data=body, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
            status = response.status
        elapsed = (time.perf_counter() - started) * 1000
        if status != 201:
            raise CommandError(f"POST /api/evaluate/ answered {status}")
        return elapsed
