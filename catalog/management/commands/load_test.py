"""Load test: gunicorn on 127.0.0.1 with production settings (DEBUG off, throttles lifted),
then closed-loop clients sending a mix of searches (the labelled dev queries) and evaluations
(real catalogue synopses, so most are not already stored) for a fixed time at each concurrency
level. Prints, per level: requests, errors, requests/s, p50/p95/p99 latency.

    python manage.py load_test [--clients 8,32] [--duration 60] [--port 8171]

It needs what the site needs to answer: the search index (``build_index``) and an active
evaluator model (``train_classifier``). Before the server starts it measures the bare query-
embedding throughput of this machine with 8 threads (the model alone, no web server), and prints
each level's search requests/s as a share of it. gunicorn's workers and threads default to
``gunicorn.conf.py``'s (``--workers``/``--threads`` override them); ``--evaluate-share 0`` sends
searches only.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import runpy
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import Anime
from catalog.search.embeddings import embedding_throughput, get_embedder

HOST = "127.0.0.1"
DEFAULT_QUERIES = Path(settings.BASE_DIR).parent / "shared" / "eval" / "search_queries_dev.jsonl"


@dataclass(frozen=True)
class Request:
    kind: str  # "search" | "evaluate"
    method: str
    path: str
    body: bytes | None = None


@dataclass
class LevelResult:
    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "evaluate": []})
    errors: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.errors)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Command(BaseCommand):
    help = "Load-test search and evaluate through gunicorn on 127.0.0.1; prints errors, p50/p95/p99, requests/s."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clients", default="8,32", help="Concurrency levels, comma-separated (default 8,32).")
        parser.add_argument("--duration", type=float, default=60.0, help="Seconds per level (default 60).")
        parser.add_argument("--warmup", type=float, default=5.0, help="Unmeasured seconds before each level.")
        parser.add_argument("--port", type=int, default=8171)
        parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py).")
        parser.add_argument("--threads", type=int, default=None, help="Threads per worker (default: gunicorn.conf.py).")
        parser.add_argument("--embed-threads", type=int, default=8, help="Threads of the bare embedding measure.")
        parser.add_argument("--evaluate-share", type=float, default=0.25, help="Share of evaluate requests.")
        parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, help="JSON-Lines search queries.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--max-requests", type=int, default=200_000, help="Stop a level after this many requests.")

    def handle(self, *args: object, **options: object) -> None:
        levels = [int(c) for c in str(options["clients"]).split(",") if c.strip()]
        if not levels or min(levels) < 1:
            raise CommandError("--clients: give positive numbers, e.g. 8,32")
        requests = self.requests_build(
            queries=Path(options["queries"]), evaluate_share=float(options["evaluate_share"]), seed=int(options["seed"])
        )
        texts = [
            json.loads(line)["query"] for line in Path(options["queries"]).read_text().splitlines() if line.strip()
        ]
        embed_threads = int(options["embed_threads"])
        self.stdout.write(f"bare query embedding, {embed_threads} threads, 10 s (no web server running) …")
        embedding_rate = embedding_throughput(get_embedder(), texts, threads=embed_threads, seconds=10.0)
        self.stdout.write(f"bare query embedding: {embedding_rate:.1f}/s")
        workers, threads = gunicorn_defaults()
        workers = int(options["workers"] or workers)
        threads = int(options["threads"] or threads)
        port = int(options["port"])
        server = self.server_start(port=port, workers=workers, threads=threads)
        try:
            self.server_wait(port, server)
            results = []
            for clients in levels:
                self.stdout.write(
                    f"{clients} clients: warming up {options['warmup']:.0f} s, measuring {options['duration']:.0f} s …"
                )
                self.level_run(port, requests, clients=clients, seconds=float(options["warmup"]), limit=10**9)
                result = self.level_run(
                    port,
                    requests,
                    clients=clients,
                    seconds=float(options["duration"]),
                    limit=int(options["max_requests"]),
                )
                results.append(result)
                self.report_line(result)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        self.report(results, workers=workers, threads=threads)
        self.stdout.write("")
        for result in results:
            searches = len(result.latencies["search"]) + sum(1 for e in result.errors if _kind(e) == "search")
            rate = searches / result.seconds
            self.stdout.write(
                f"{result.clients:>3} clients: search {rate:.1f} req/s = {rate / embedding_rate:.1%} of the bare "
                f"query-embedding throughput ({embedding_rate:.1f}/s, {embed_threads} threads)"
            )
        if any(r.errors for r in results):
            raise CommandError("errors during the load test (see above)")

    # ------------------------------------------------------------------ requests

    def requests_build(self, *, queries: Path, evaluate_share: float, seed: int) -> list[Request]:
        if not queries.is_file():
            raise CommandError(f"--queries: {queries} not found")
        texts = [json.loads(line)["query"] for line in queries.read_text().splitlines() if line.strip()]
        rng = random.Random(seed)
        searches = [Request("search", "GET", "/api/search/?" + _urlencode({"q": q, "limit": 10})) for q in texts]
        rows = list(
            Anime.objects.exclude(synopsis="")
            .order_by("mal_id")
            .prefetch_related("genres")
            .only("mal_id", "synopsis", "type", "source", "episodes", "year")
        )
        if not rows:
            raise CommandError("the catalogue is empty: import it first (import_anime)")
        rng.shuffle(rows)
        evaluations = []
        for anime in rows[:1500]:
            body = {
                "synopsis": anime.synopsis[:4_900].strip(),
                "genres": sorted(g.name for g in anime.genres.all()),
                "type": anime.type or "",
                "source": anime.source or "",
            }
            if len(body["synopsis"]) >= 30:
                evaluations.append(Request("evaluate", "POST", "/api/evaluate/", json.dumps(body).encode()))
        # A shuffled deck with the requested share of each kind; clients deal from it in turn.
        n_eval = round(len(searches) * evaluate_share / max(1e-9, 1 - evaluate_share)) if evaluate_share < 1 else 1
        deck: list[Request] = []
        for _ in range(40):
            deck.extend(searches)
            deck.extend(rng.sample(evaluations, min(n_eval, len(evaluations))) if evaluations else [])
        rng.shuffle(deck)
        # Distinct evaluations across the deck where there are enough of them.
        pool = iter(rng.sample(evaluations, len(evaluations)) * 10)
        return [next(pool) if r.kind == "evaluate" else r for r in deck]

    # ------------------------------------------------------------------ server

    def server_start(self, *, port: int, workers: int, threads: int) -> subprocess.Popen:
        base = Path(settings.BASE_DIR)
        env = {
            **os.environ,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_SSL_REDIRECT": "0",
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_HSTS_SECONDS": "0",
            "API_ANON_THROTTLE_RATE": "off",
            "API_USER_THROTTLE_RATE": "off",
            "SEARCH_THROTTLE_RATE": "off",
            "EVALUATE_THROTTLE_RATE": "off",
            "EVALUATOR_COMMENT_BACKEND": "offline",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "warning"),
            "GUNICORN_BIND": f"{HOST}:{port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            # No recycling mid-measurement: a fresh worker reloads the models (seconds of stall).
            "GUNICORN_MAX_REQUESTS": "0",
        }
        self.stdout.write("collectstatic (production settings serve the manifest's files) …")
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=base, env=env, check=True
        )
        log = open(Path(settings.VAR_DIR) / "load_test_gunicorn.log", "w")  # open while the server runs
        self.stdout.write(f"gunicorn on {HOST}:{port}: {workers} worker(s) x {threads} threads (log: {log.name})")
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "animesite.wsgi:application"],
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def server_wait(self, port: int, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + 120
        last = "no answer"
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited with {server.returncode} (see var/load_test_gunicorn.log)")
            try:
                status, body = _fetch(port, "GET", "/readyz")
            except OSError:
                time.sleep(0.5)
                continue
            if status == 200:
                self.stdout.write(f"/readyz {status}: {body.decode()[:400]}")
                return
            # Opening local-mode Qdrant the first time can outlast the probe's 2 s: ask again.
            last = f"/readyz {status}: {body.decode()[:400]}"
            time.sleep(1)
        raise CommandError(f"the site was not ready within 120 s (build_index / train_classifier?): {last}")

    # ------------------------------------------------------------------ clients

    def level_run(self, port: int, requests: list[Request], *, clients: int, seconds: float, limit: int) -> LevelResult:
        result = LevelResult(clients=clients, seconds=seconds)
        lock = threading.Lock()
        counter = iter(range(10**12))
        stop_at = time.monotonic() + seconds

        def client(offset: int) -> None:
            connection = http.client.HTTPConnection(HOST, port, timeout=60)
            while time.monotonic() < stop_at:
                with lock:
                    n = next(counter)
                if n >= limit:
                    break
                request = requests[(n + offset) % len(requests)]
                started = time.perf_counter()
                error = None
                try:
                    connection.request(
                        request.method,
                        request.path,
                        body=request.body,
                        headers={"Content-Type": "application/json", "Accept": "application/json"},
                    )
                    response = connection.getresponse()
                    body = response.read()
                    if response.status != 200 and not (request.kind == "evaluate" and response.status == 201):
                        error = f"{request.method} {request.path[:60]} -> {response.status} {body[:120]!r}"
                    if response.getheader("Connection", "").lower() == "close":
                        connection.close()
                except (OSError, http.client.HTTPException) as exc:
                    error = f"{request.method} {request.path[:60]} -> {type(exc).__name__}: {exc}"
                    connection.close()
                elapsed = time.perf_counter() - started
                with lock:
                    if error:
                        result.errors.append(error)
                    else:
                        result.latencies[request.kind].append(elapsed)
            connection.close()

        threads = [threading.Thread(target=client, args=(i * 7,)) for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.seconds = time.monotonic() - started
        return result

    # ------------------------------------------------------------------ report

    def report_line(self, result: LevelResult) -> None:
        for error in result.errors[:5]:
            self.stderr.write(f"  error: {error}")

    def report(self, results: list[LevelResult], *, workers: int, threads: int) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"Load test: gunicorn {workers} worker(s) x {threads} threads on {HOST}, DEBUG off, throttles off; "
            "closed-loop clients; latency in ms"
        )
        header = (
            f"{'clients':>7} {'kind':<9} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for result in results:
            kinds = [("all", [v for vs in result.latencies.values() for v in vs]), *result.latencies.items()]
            for kind, values in kinds:
                errors = len(result.errors) if kind == "all" else sum(1 for e in result.errors if _kind(e) == kind)
                if not values and not errors:
                    continue  # a kind this run did not send (--evaluate-share 0)
                rate = (len(values) + errors) / result.seconds
                self.stdout.write(
                    f"{result.clients:>7} {kind:<9} {len(values) + errors:>8,} {errors:>6} {rate:>7.1f} "
                    f"{percentile(values, 50) * 1000:>7.0f} {percentile(values, 95) * 1000:>7.0f} "
                    f"{percentile(values, 99) * 1000:>7.0f}"
                )
            mean = statistics.fmean([v for vs in result.latencies.values() for v in vs] or [0.0])
            self.stdout.write(f"{'':>7} (mean {mean * 1000:.0f} ms over {result.seconds:.1f} s)")


def gunicorn_defaults() -> tuple[int, int]:
    """The workers and threads gunicorn.conf.py chooses (with this environment)."""
    namespace = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    return int(namespace["workers"]), int(namespace["threads"])


def _kind(error: str) -> str:
    return "evaluate" if "/api/evaluate/" in error else "search"


def _urlencode(params: dict[str, object]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _fetch(port: int, method: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
