from __future__ import annotations

import json
import resource
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from rest_framework.throttling import SimpleRateThrottle

from catalog.filters import AnimeCriteria
from catalog.lists.recommend import recommend
from catalog.lists.samples import export_sample
from catalog.lists.selectors import Entry
from catalog.lists.services import list_clear, list_import
from catalog.models import Anime
from catalog.search.documents import anime_document_text
from catalog.search.embeddings import calls_per_second, embedding_throughput, get_embedder
from catalog.search.engine import engine_reset
from catalog.search.index import anime_index, index_rebuild
from catalog.search.keywords import query_sparse
from catalog.search.service import criteria_filter, search_anime, similar_anime, vector_query
from catalog.search.titles import TitleIndex, title_index

FILTER = AnimeCriteria(genres=["Action"], year_min=2000)
# "More like this" and for-you: anime spread over the catalogue (every n-th by MAL id), and lists
# of LIST_SIZE of them (a real list's order of size), scored 3 to 10.
SIMILAR_ANIME = 60
LISTS = 12
LIST_SIZE = 120


def rss_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak, in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    now = int(status.get("VmRSS", "0 kB").split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rss_mb": round(now, 1), "peak_rss_mb": round(peak, 1)}


def sample_lists() -> list[dict[int, Entry]]:
    ids = list(Anime.objects.order_by("mal_id").values_list("mal_id", "title"))
    lists = []
    for n in range(LISTS):
        chosen = ids[n :: max(1, len(ids) // LIST_SIZE)][:LIST_SIZE]
        lists.append({m: Entry("completed", 3 + (m * 7 + n) % 8, t) for m, t in chosen})
    return lists


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Command(BaseCommand):
    help = (
        "Speed benchmark of search: p50/p95 of query embedding, the vector query (unfiltered and with "
        "a two-field filter), the service call and HTTP /api/search/ with one client; the title index "
        "(build time and memory, matching with a cold cache); more like this and for-you (service and "
        "HTTP, against the same budget); the process's resident memory after all of it (a worker's); "
        "N concurrent clients beside the bare query-embedding throughput with N threads; full index "
        "time against bare embedding time; re-index with nothing changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queries", type=Path, default=settings.BASE_DIR.parent / "shared" / "eval" / "search_queries_dev.jsonl"
        )
        parser.add_argument("--rounds", type=int, default=3, help="passes over the queries per measurement")
        parser.add_argument("--port", type=int, default=8121)
        parser.add_argument("--clients", type=int, default=8)
        parser.add_argument("--skip-index", action="store_true", help="skip the (minutes long) full index timing")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["queries"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        if options["clients"] < 1:
            raise CommandError("--clients must be at least 1")
        queries = [json.loads(line)["query"] for line in path.read_text().splitlines() if line.strip()]
        rounds = max(1, options["rounds"])
        embedder = get_embedder()
        report: dict[str, Any] = {"backend": embedder.name, "queries": len(queries), "rounds": rounds}
        # Warm up: model session, Qdrant storage, title index, DB connection.
        for query in queries[:5]:
            search_anime(query)

        def measure(name: str, fn: Callable[[str], Any]) -> None:
            samples = [timed(lambda q=q: fn(q)) for _ in range(rounds) for q in queries]
            report[name] = {"p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2)}
            self._line(name, report[name])

        vectors = {q: embedder.embed_query(q) for q in queries}
        sparse = {q: query_sparse(q) for q in queries}
        filtered = criteria_filter(FILTER)
        measure("query_embedding", embedder.embed_query)
        # What the hybrid service sends: one query, a dense and a sparse ranking fused by the engine.
        measure("vector_query", lambda q: vector_query(dense=vectors[q], sparse=sparse[q], query_filter=None))
        measure("vector_query_dense", lambda q: vector_query(dense=vectors[q], sparse=None, query_filter=None))
        measure("vector_query_sparse", lambda q: vector_query(dense=None, sparse=sparse[q], query_filter=None))
        measure(
            "vector_query_filtered", lambda q: vector_query(dense=vectors[q], sparse=sparse[q], query_filter=filtered)
        )
        measure("service", lambda q: search_anime(q))
        stages: dict[str, list[float]] = {}
        for q in queries:
            for stage, seconds in search_anime(q).timings.items():
                stages.setdefault(stage, []).append(seconds * 1000)
        report["service_stages_p50_ms"] = {k: round(percentile(v, 50), 2) for k, v in stages.items()}
        self._line("service stages p50 ms", report["service_stages_p50_ms"])
        measure("service_filtered", lambda q: search_anime(q, criteria=FILTER))
        report["title_index"] = self._title_index_timing(queries)
        self._line("title_index", report["title_index"])

        # "More like this" and for-you: the budgets hold for them too.
        everyone = list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))
        similar_ids = everyone[:: max(1, len(everyone) // SIMILAR_ANIME)][:SIMILAR_ANIME]
        similar_objects = Anime.objects.in_bulk(similar_ids)
        lists = sample_lists()
        similar_anime(next(iter(similar_objects.values())))  # warm up, as the searches were
        recommend(lists[0])  # and the for-you table of the catalogue's facts
        samples = [timed(lambda a=a: similar_anime(a)) for _ in range(rounds) for a in similar_objects.values()]
        report["similar_service"] = {
            "p50_ms": round(percentile(samples, 50), 2),
            "p95_ms": round(percentile(samples, 95), 2),
        }
        self._line("similar_service", report["similar_service"])
        samples = [timed(lambda e=e: recommend(e)) for _ in range(rounds) for e in lists]
        report["for_you_service"] = {
            "p50_ms": round(percentile(samples, 50), 2),
            "p95_ms": round(percentile(samples, 95), 2),
        }
        self._line("for_you_service", report["for_you_service"])

        # Do the engine's query and the model's run let other threads go on (release the GIL)?
        # The same work in 1 and in 2 threads: ~2x on 2 cores if they do, ~1x if they hold it.
        for name, work in (
            ("engine_query", lambda q: vector_query(dense=vectors[q], sparse=sparse[q], query_filter=filtered)),
            ("query_embedding", embedder.embed_query),
        ):
            one = calls_per_second(work, queries, threads=1, seconds=2.0)
            two = calls_per_second(work, queries, threads=2, seconds=2.0)
            report[f"{name}_threads"] = {"1_thread_per_s": round(one, 1), "2_threads_per_s": round(two, 1)}
            self.stdout.write(
                f"{name + ' threads':<24} 1 thread {one:,.0f}/s  2 threads {two:,.0f}/s ({two / one:.2f}x)"
            )

        # The benchmark measures search, not the API's rate limits (60 searches a minute).
        SimpleRateThrottle.THROTTLE_RATES = dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES)
        server = ThreadedWSGIServer(("127.0.0.1", options["port"]), QuietHandler)
        server.set_app(get_wsgi_application())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{options['port']}/api/search/?"

        def http(q: str) -> None:
            with urllib.request.urlopen(base + urllib.parse.urlencode({"q": q}), timeout=30) as response:
                if response.status != 200:
                    raise CommandError(f"HTTP {response.status}")
                response.read()

        def timed_http(name: str, requests: list[tuple[str, str]]) -> None:
            """p50/p95 of GETs of (url, cookie)."""

            def get(url: str, cookie: str) -> None:
                request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
                with urllib.request.urlopen(request, timeout=30) as response:
                    if response.status != 200:
                        raise CommandError(f"HTTP {response.status} for {url}")
                    response.read()

            get(*requests[0])
            samples = [timed(lambda r=r: get(*r)) for _ in range(rounds) for r in requests]
            report[name] = {"p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2)}
            self._line(name, report[name])

        root = f"http://127.0.0.1:{options['port']}/api/"
        sessions: list[SessionStore] = []
        try:
            measure("http_one_client", http)
            timed_http("http_similar", [(f"{root}anime/{m}/similar/", "") for m in similar_ids])
            # For-you: visitors' sessions holding an imported list, as the import page leaves them.
            for entries in lists[:4]:
                session = SessionStore()
                session.create()
                visitor = SimpleNamespace(session=session, user=AnonymousUser())
                list_import(request=visitor, data=export_sample(len(entries), ids=list(entries)))
                session.save()
                sessions.append(session)
            timed_http(
                "http_for_you",
                [(f"{root}recommendations/", f"{settings.SESSION_COOKIE_NAME}={s.session_key}") for s in sessions] * 3,
            )
            report["worker_rss_after_warm_up"] = rss_mb()
            self._line(
                "process memory after searches, similar, for-you (one process, like a worker)",
                report["worker_rss_after_warm_up"],
            )
            samples: list[float] = []
            lock = threading.Lock()
            work = [q for _ in range(rounds) for q in queries]

            def client(part: list[str]) -> None:
                for q in part:
                    elapsed = timed(lambda q=q: http(q))
                    with lock:
                        samples.append(elapsed)

            clients = options["clients"]
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(client, [work[i::clients] for i in range(clients)]))
            wall = time.perf_counter() - started
            report[f"http_{clients}_clients"] = {
                "requests_per_s": round(len(samples) / wall, 1),
                "p50_ms": round(percentile(samples, 50), 2),
                "p95_ms": round(percentile(samples, 95), 2),
            }
            self._line(f"http_{clients}_clients", report[f"http_{clients}_clients"])
        finally:
            server.shutdown()
            server.server_close()
            for session in sessions:  # the stored lists would expire with their sessions: dropped now
                list_clear(request=SimpleNamespace(session=session, user=AnonymousUser()))
                session.delete()

        clients = options["clients"]
        rate = embedding_throughput(embedder, queries, threads=clients, seconds=5.0)
        report[f"bare_query_embedding_{clients}_threads_per_s"] = round(rate, 1)
        served = report[f"http_{clients}_clients"]["requests_per_s"]
        self.stdout.write(
            f"bare query embedding with {clients} threads: {rate:.1f}/s; "
            f"HTTP with {clients} clients {served:.1f} req/s = {served / rate:.1%} of it"
        )
        embed_p50 = report["query_embedding"]["p50_ms"]
        http_p50 = report["http_one_client"]["p50_ms"]
        budget = embed_p50 + 25
        report["http_budget_ms"] = round(budget, 2)
        verdict = "within" if http_p50 <= budget else "OVER"
        for name in ("http_similar", "http_for_you"):
            p50 = report[name]["p50_ms"]
            self.stdout.write(f"{name} p50 {p50:.1f} ms vs {budget:.1f} ms: {'within' if p50 <= budget else 'OVER'}")
        self.stdout.write(
            f"HTTP p50 {http_p50:.1f} ms vs query embedding p50 + 25 ms = {budget:.1f} ms: {verdict}; "
            f"vector query p50 {report['vector_query']['p50_ms']:.2f} ms, "
            f"filtered {report['vector_query_filtered']['p50_ms']:.2f} ms (target <= 5 ms each)"
        )

        started = time.perf_counter()
        stats = anime_index()
        report["reindex_unchanged_s"] = round(time.perf_counter() - started, 2)
        self.stdout.write(
            f"re-index with nothing changed: {report['reindex_unchanged_s']:.2f} s ({stats.indexed} re-indexed)"
        )

        if not options["skip_index"]:
            report.update(self._index_timing())
        if options["json"]:
            self.stdout.write(json.dumps(report))

    def _title_index_timing(self, queries: list[str]) -> dict[str, float]:
        """The title index: build time and memory at the whole catalogue, and matching per query
        with the close-word cache cold (each query's words looked up afresh)."""
        title_index()  # the process's own, built already: this one is measured beside it
        started = time.perf_counter()
        before = rss_mb()["rss_mb"]
        built = TitleIndex.build()
        seconds = time.perf_counter() - started
        grown = rss_mb()["rss_mb"] - before
        samples = []
        for query in queries:
            built._close_tokens.cache_clear()
            samples.append(timed(lambda q=query: built.match(q)))
        return {
            "build_s": round(seconds, 2),
            "build_rss_growth_mb": round(grown, 1),
            "match_cold_p50_ms": round(percentile(samples, 50), 3),
            "match_cold_p95_ms": round(percentile(samples, 95), 3),
        }

    def _index_timing(self) -> dict[str, float]:
        """Full index into a scratch embedded index with a cold embedding path, against embedding
        the same texts bare."""
        embedder = get_embedder()
        anime = list(Anime.objects.prefetch_related("genres").order_by("mal_id"))
        texts = [anime_document_text(a) for a in anime]
        started = time.perf_counter()
        embedder.embed_documents(texts)
        bare = time.perf_counter() - started
        self.stdout.write(f"bare embedding of {len(texts):,} documents: {bare:.1f} s ({len(texts) / bare:.1f} docs/s)")
        saved = (settings.QDRANT_URL, settings.QDRANT_PATH)
        with tempfile.TemporaryDirectory() as scratch:
            settings.QDRANT_URL, settings.QDRANT_PATH = "", Path(scratch)
            engine_reset()
            try:
                stats = index_rebuild(use_cache=False)
            finally:
                settings.QDRANT_URL, settings.QDRANT_PATH = saved
                engine_reset()
        ratio = stats.seconds / bare
        self.stdout.write(
            f"full index of {stats.indexed:,} anime: {stats.seconds:.1f} s ({stats.indexed / stats.seconds:.1f} docs/s) "
            f"= {ratio:.2f} x bare embedding"
        )
        return {
            "bare_embedding_s": round(bare, 1),
            "full_index_s": round(stats.seconds, 1),
            "index_over_embedding": round(ratio, 3),
        }

    def _line(self, name: str, values: dict[str, object]) -> None:
        self.stdout.write(f"{name:<24} " + "  ".join(f"{k} {v}" for k, v in values.items()))
