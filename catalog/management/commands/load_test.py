"""Load test of the production set-up on 127.0.0.1: nginx in front of gunicorn (the config
``animesite.proxy`` renders, as compose runs it; ``--no-proxy``: gunicorn alone), production
settings (DEBUG off, throttles lifted), then closed-loop clients sending a mix of searches (the
labelled dev queries) and evaluations (real catalogue synopses, so most are not already stored)
for a fixed time at each concurrency level. Prints, per level: requests, errors, requests/s,
p50/p95/p99 latency.

    python manage.py load_test [--clients 8,32] [--duration 60] [--port 8171] [--no-proxy]

It needs what the site needs to answer: the search index (``build_index``) and, unless
``--evaluate-share 0``, an active evaluator model (``train_classifier``). Before the servers start
it measures the bare query-embedding throughput of this machine with 8 threads (the model alone,
no web server), and prints each level's search requests/s as a share of it. gunicorn's workers
and threads default to ``gunicorn.conf.py``'s (``--workers``/``--threads`` override them).

Slow clients (``--slow-clients 32 --slow-kind headers|body|both``): that many connections send a
request one byte every ``--slow-interval`` seconds (a header that never ends, or a body after a
whole header; they reconnect when the server cuts them off) while ``--clients`` (default 4)
ordinary clients search, each search on a new connection like a new visitor; searches only, no
embedding measure. ``--compare`` runs the same measure
on both set-ups, with the proxy and gunicorn alone, one after the other.

    python manage.py load_test --slow-clients 32 --slow-kind both --duration 60 --compare
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from animesite.proxy import gunicorn_config
from animesite.serving import HOST, LocalServing, ServingError, Tricklers, TrickleStats, nginx_binary, production_env
from catalog.models import Anime
from catalog.search.embeddings import embedding_throughput, get_embedder

DEFAULT_QUERIES = Path(settings.BASE_DIR).parent / "shared" / "eval" / "search_queries_dev.jsonl"
# What a search-only measure waits for in /readyz (the evaluator's model is not needed).
SEARCH_NEEDS = ("database", "redis", "qdrant")


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
    setup: str = ""
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "evaluate": []})
    errors: list[str] = field(default_factory=list)
    slow: dict[str, TrickleStats] | None = None  # the slow clients' totals, by kind
    slow_held_at_end: int = 0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.errors)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def load_average() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


class Command(BaseCommand):
    help = (
        "Load-test search and evaluate through nginx + gunicorn (or gunicorn alone) on 127.0.0.1, optionally "
        "with slow clients; prints errors, p50/p95/p99, requests/s."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clients", default=None, help="Concurrency levels, comma-separated (default 8,32; 4 with slow clients)."
        )
        parser.add_argument("--duration", type=float, default=60.0, help="Seconds per level (default 60).")
        parser.add_argument("--warmup", type=float, default=5.0, help="Unmeasured seconds before each level.")
        parser.add_argument("--port", type=int, default=8171, help="Port the clients use (nginx's, or gunicorn's).")
        parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py).")
        parser.add_argument("--threads", type=int, default=None, help="Threads per worker (default: gunicorn.conf.py).")
        parser.add_argument("--embed-threads", type=int, default=8, help="Threads of the bare embedding measure.")
        parser.add_argument(
            "--evaluate-share",
            type=float,
            default=None,
            help="Share of evaluate requests (default 0.25; 0 with slow clients).",
        )
        parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, help="JSON-Lines search queries.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--max-requests", type=int, default=200_000, help="Stop a level after this many requests.")
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="Seconds a request may take before it counts as an error."
        )
        parser.add_argument("--no-proxy", action="store_true", help="gunicorn alone, without nginx in front.")
        parser.add_argument("--compare", action="store_true", help="Run with the proxy, then with gunicorn alone.")
        parser.add_argument("--nginx", default="", help="nginx executable (default: found on PATH or in /usr/sbin).")
        parser.add_argument("--slow-clients", type=int, default=0, help="Connections trickling their request.")
        parser.add_argument("--slow-kind", choices=("headers", "body", "both"), default="both")
        parser.add_argument(
            "--slow-interval", type=float, default=5.0, help="Seconds between two bytes of a slow client (default 5)."
        )
        parser.add_argument("--progress", type=float, default=5.0, help="Seconds between progress lines.")

    def handle(self, *args: object, **options: object) -> None:
        slow = int(options["slow_clients"])
        if slow < 0:
            raise CommandError("--slow-clients: give 0 or more")
        if float(options["slow_interval"]) <= 0:
            raise CommandError("--slow-interval: give a positive number of seconds")
        if options["compare"] and options["no_proxy"]:
            raise CommandError("--compare runs both set-ups: leave out --no-proxy")
        clients_option = options["clients"] or ("4" if slow else "8,32")
        try:
            levels = [int(c) for c in str(clients_option).split(",") if c.strip()]
        except ValueError:
            levels = []
        if not levels or min(levels) < 1:
            raise CommandError("--clients: give positive numbers, e.g. 8,32")
        evaluate_share = options["evaluate_share"]
        evaluate_share = (0.0 if slow else 0.25) if evaluate_share is None else float(evaluate_share)
        if not 0 <= evaluate_share <= 1:
            raise CommandError("--evaluate-share: give a share between 0 and 1")
        proxies = [True, False] if options["compare"] else [not options["no_proxy"]]
        nginx = ""
        if True in proxies:
            try:
                nginx = nginx_binary(str(options["nginx"]))
            except ServingError as error:
                raise CommandError(str(error)) from None
        requests = self.requests_build(
            queries=Path(options["queries"]), evaluate_share=evaluate_share, seed=int(options["seed"])
        )
        embedding_rate = None
        embed_threads = int(options["embed_threads"])
        if not slow:
            texts = [
                json.loads(line)["query"] for line in Path(options["queries"]).read_text().splitlines() if line.strip()
            ]
            self.stdout.write(f"bare query embedding, {embed_threads} threads, 10 s (no web server running) …")
            embedding_rate = embedding_throughput(get_embedder(), texts, threads=embed_threads, seconds=10.0)
            self.stdout.write(f"bare query embedding: {embedding_rate:.1f}/s")
        defaults = gunicorn_config()
        workers = int(options["workers"] or defaults["workers"])
        threads = int(options["threads"] or defaults["threads"])
        env = production_env(
            API_ANON_THROTTLE_RATE="off",
            API_USER_THROTTLE_RATE="off",
            SEARCH_THROTTLE_RATE="off",
            EVALUATE_THROTTLE_RATE="off",
            EVALUATOR_COMMENT_BACKEND="offline",
            # No recycling mid-measurement: a fresh worker reloads the models (seconds of stall).
            GUNICORN_MAX_REQUESTS="0",
        )
        self.stdout.write("collectstatic (production settings serve the manifest's files) …")
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
        )
        self.stdout.write(f"at the start: {load_average()}")
        results: list[LevelResult] = []
        # A SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the servers are stopped too.
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            for proxy in proxies:
                results.extend(
                    self.setup_run(
                        proxy=proxy,
                        nginx=nginx,
                        env=env,
                        workers=workers,
                        threads=threads,
                        levels=levels,
                        requests=requests,
                        needs=None if evaluate_share > 0 else SEARCH_NEEDS,
                        options=options,
                    )
                )
        except ServingError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            raise CommandError("interrupted (nginx and gunicorn stopped)") from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write(f"at the end: {load_average()}")
        self.report(results, workers=workers, threads=threads)
        if embedding_rate:
            self.stdout.write("")
            for result in results:
                searches = len(result.latencies["search"]) + sum(1 for e in result.errors if _kind(e) == "search")
                rate = searches / result.seconds
                self.stdout.write(
                    f"{result.setup}, {result.clients:>3} clients: search {rate:.1f} req/s = "
                    f"{rate / embedding_rate:.1%} of the bare query-embedding throughput ({embedding_rate:.1f}/s, "
                    f"{embed_threads} threads)"
                )
        # With --compare, gunicorn alone failing is the point of the comparison, not an error.
        failed = [r for r in results if r.errors and (r.setup == "proxy" or not options["compare"])]
        if failed:
            raise CommandError("errors during the load test (see above)")

    # ------------------------------------------------------------------ set-ups

    def setup_run(
        self,
        *,
        proxy: bool,
        nginx: str,
        env: dict[str, str],
        workers: int,
        threads: int,
        levels: list[int],
        requests: list[Request],
        needs: tuple[str, ...] | None,
        options: dict[str, object],
    ) -> list[LevelResult]:
        port = int(options["port"])
        serving = LocalServing(
            port=port,
            proxy=proxy,
            env=env,
            log_dir=Path(settings.VAR_DIR) / "load_test",
            workers=workers,
            threads=threads,
            nginx=nginx,
        )
        label = "proxy" if proxy else "gunicorn alone"
        self.stdout.write(
            f"{serving.description}: {workers} worker(s) x {threads} threads (logs: {serving.log_dir}/serving_*.log)"
        )
        results = []
        with serving:
            answer = serving.wait_ready(needs=needs)
            self.stdout.write(f"/readyz: {json.dumps(answer)[:400]}")
            slow = int(options["slow_clients"])
            timeout = float(options["timeout"])
            for clients in levels:
                self.stdout.write(
                    f"{label}, {clients} clients: warming up {options['warmup']:.0f} s, measuring "
                    f"{options['duration']:.0f} s"
                    + (f" with {slow} slow clients ({options['slow_kind']})" if slow else "")
                    + " …"
                )
                self.level_run(
                    port, requests, clients=clients, seconds=float(options["warmup"]), limit=10**9, timeout=timeout
                )
                if slow:
                    result = self.slow_level_run(port, requests, clients=clients, timeout=timeout, options=options)
                else:
                    result = self.level_run(
                        port,
                        requests,
                        clients=clients,
                        seconds=float(options["duration"]),
                        limit=int(options["max_requests"]),
                        timeout=timeout,
                        progress=float(options["progress"]),
                    )
                result.setup = label
                results.append(result)
                self.report_line(result)
            serving.check_alive()
        self.stdout.write(f"{label}: stopped")
        return results

    def slow_level_run(
        self, port: int, requests: list[Request], *, clients: int, timeout: float, options: dict[str, object]
    ) -> LevelResult:
        interval = float(options["slow_interval"])
        with Tricklers(
            port=port, count=int(options["slow_clients"]), kind=str(options["slow_kind"]), interval=interval
        ) as tricklers:
            tricklers.wait_connected(10.0)
            # Let each one send a few bytes first: by then gunicorn alone has given them its threads.
            time.sleep(min(2 * interval, 10.0))
            self.stdout.write(f"  {tricklers.open_count()} slow connections open; measuring searches …")
            result = self.level_run(
                port,
                requests,
                clients=clients,
                seconds=float(options["duration"]),
                limit=int(options["max_requests"]),
                timeout=timeout,
                progress=float(options["progress"]),
                extra=lambda: _slow_progress(tricklers),
                # Each search from a new connection, like another visitor: with keep-alive, a
                # client that once reached a free gunicorn worker stays there and never meets
                # the one the slow clients hold.
                keep_alive=False,
            )
            result.slow_held_at_end = tricklers.open_count()
        result.slow = tricklers.totals()
        return result

    # ------------------------------------------------------------------ requests

    def requests_build(self, *, queries: Path, evaluate_share: float, seed: int) -> list[Request]:
        if not queries.is_file():
            raise CommandError(f"--queries: {queries} not found")
        texts = [json.loads(line)["query"] for line in queries.read_text().splitlines() if line.strip()]
        rng = random.Random(seed)
        searches = [Request("search", "GET", "/api/search/?" + _urlencode({"q": q, "limit": 10})) for q in texts]
        if evaluate_share <= 0:
            deck = searches * 40
            rng.shuffle(deck)
            return deck
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

    # ------------------------------------------------------------------ clients

    def level_run(
        self,
        port: int,
        requests: list[Request],
        *,
        clients: int,
        seconds: float,
        limit: int,
        timeout: float,
        progress: float = 0.0,
        extra: Callable[[], str] | None = None,
        keep_alive: bool = True,
    ) -> LevelResult:
        result = LevelResult(clients=clients, seconds=seconds)
        lock = threading.Lock()
        counter = iter(range(10**12))
        stop_at = time.monotonic() + seconds

        def client(offset: int) -> None:
            connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
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
                    if not keep_alive or response.getheader("Connection", "").lower() == "close":
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

        threads = [threading.Thread(target=client, args=(i * 7,), daemon=True) for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        # A progress line every `progress` seconds while the clients run.
        next_line = started + progress
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
            if progress and time.monotonic() >= next_line and any(thread.is_alive() for thread in threads):
                next_line += progress
                with lock:
                    values = [v for vs in result.latencies.values() for v in vs]
                    errors = len(result.errors)
                line = (
                    f"  {time.monotonic() - started:5.0f} s: {len(values):,} answered, {errors} errors, "
                    f"p95 so far {percentile(values, 95) * 1000:.0f} ms"
                )
                self.stdout.write(line + (f"; {extra()}" if extra else ""))
        result.seconds = time.monotonic() - started
        return result

    # ------------------------------------------------------------------ report

    def report_line(self, result: LevelResult) -> None:
        for error in result.errors[:5]:
            self.stderr.write(f"  error: {error}")

    def report(self, results: list[LevelResult], *, workers: int, threads: int) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"Load test: gunicorn {workers} worker(s) x {threads} threads on {HOST}, behind nginx (proxy) or alone; "
            "DEBUG off, throttles off; closed-loop clients; latency in ms"
        )
        header = (
            f"{'set-up':<14} {'clients':>7} {'kind':<9} {'requests':>8} {'errors':>6} {'req/s':>7} "
            f"{'p50':>7} {'p95':>7} {'p99':>7}"
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
                    f"{result.setup:<14} {result.clients:>7} {kind:<9} {len(values) + errors:>8,} {errors:>6} "
                    f"{rate:>7.1f} {percentile(values, 50) * 1000:>7.0f} {percentile(values, 95) * 1000:>7.0f} "
                    f"{percentile(values, 99) * 1000:>7.0f}"
                )
            mean = statistics.fmean([v for vs in result.latencies.values() for v in vs] or [0.0])
            self.stdout.write(f"{'':<14} {'':>7} (mean {mean * 1000:.0f} ms over {result.seconds:.1f} s)")
            if result.slow is not None:
                for kind, stats in result.slow.items():
                    held = f", after {statistics.fmean(stats.held):.1f} s on average" if stats.held else ""
                    self.stdout.write(
                        f"{'':<14} {'':>7} slow clients ({kind}): {stats.opened} connections opened, "
                        f"{stats.cut} cut off by the server{held}; {stats.bytes_sent:,} bytes trickled"
                    )
                self.stdout.write(f"{'':<14} {'':>7} slow connections still open at the end: {result.slow_held_at_end}")


def _slow_progress(tricklers: Tricklers) -> str:
    totals = tricklers.totals().values()
    return (
        f"slow connections open {tricklers.open_count()}, opened {sum(t.opened for t in totals)}, "
        f"cut off by the server {sum(t.cut for t in totals)}"
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _kind(error: str) -> str:
    return "evaluate" if "/api/evaluate/" in error else "search"


def _urlencode(params: dict[str, object]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)
