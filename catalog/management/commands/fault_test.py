"""Fault test: index N anime with a real Celery worker on Redis, ``kill -9`` it while a batch
is in flight, start a new one, let the queue drain, then check that every anime is in the search
index exactly once (point id = MAL id) and that the anime table did not change.

    python manage.py fault_test [--count 500] [--batch 10] [--broker redis://127.0.0.1:6379/7]

The workers run in their own processes (``--worker`` below) on their own Redis db, writing to an
embedded index (Qdrant Edge) of their own under a temporary directory, which this process creates
empty first. Each batch is one write: a copy of the live generation, changed and published at once,
so a worker killed mid-batch leaves an unpublished copy behind and nothing half-written. What makes
it hold: ``acks_late`` (a message is acknowledged after the task ran), ``reject_on_worker_lost``,
and a Redis visibility timeout after which a dead worker's unacknowledged message is delivered
again; the task is idempotent (upserts by MAL id).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import Anime

TASK = "catalog.tasks.anime_index_batch"
QUEUE = "fault-test"
VISIBILITY_TIMEOUT = 8  # seconds: far above a batch's run time here, short enough to wait for
LOG_LINE = re.compile(r"Task catalog\.tasks\.anime_index_batch\[([0-9a-f-]{36})\] (received|succeeded)")


def _app(broker: str):
    from celery import Celery

    app = Celery("animesite-fault-test")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=broker,
        task_always_eager=False,
        task_default_queue=QUEUE,
        # A dead worker's unacknowledged message is put back after the visibility timeout, by a
        # sweep every 2 s (kombu's defaults: 10 s x every 10th sweep, and a one-hour timeout).
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "unacked_restore_interval": 2,
            "unacked_restore_throttle": 1,
        },
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
    )
    return app


def anime_table_checksum() -> str:
    """sha256 over every column of every anime row, in MAL id order."""
    fields = [f.attname for f in Anime._meta.concrete_fields]
    digest = hashlib.sha256()
    for row in Anime.objects.order_by("mal_id").values_list(*fields):
        digest.update(repr(row).encode())
    return digest.hexdigest()


class Command(BaseCommand):
    help = "Kill -9 a Celery worker mid-indexing; check every anime is in Qdrant exactly once and the DB unchanged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=500, help="Anime to index (default 500).")
        parser.add_argument("--batch", type=int, default=10, help="MAL ids per task (default 10).")
        parser.add_argument("--broker", default="redis://127.0.0.1:6379/7", help="Its own Redis db (flushed).")
        parser.add_argument("--kill-at", type=float, default=0.4, help="Kill when this share of tasks is done.")
        parser.add_argument("--timeout", type=float, default=600, help="Give up after this many seconds.")
        parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (logs, Qdrant).")
        parser.add_argument("--worker", action="store_true", help=argparse_suppress())

    def handle(self, *args: object, **options: object) -> None:
        if options["worker"]:
            self.worker(str(options["broker"]))
            return
        if not str(options["broker"]).startswith("redis://"):
            raise CommandError("--broker: a redis:// URL (the test reads Redis' queue and unacked set)")
        workdir = Path(tempfile.mkdtemp(prefix="fault-test-"))
        try:
            self.run(workdir, options)
        finally:
            if not options["keep"]:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                self.stdout.write(f"kept {workdir}")

    # ------------------------------------------------------------------ the test

    def run(self, workdir: Path, options: dict) -> None:
        import redis

        broker = str(options["broker"])
        count, batch = int(options["count"]), int(options["batch"])
        ids = list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True)[:count])
        if len(ids) < count:
            raise CommandError(f"the catalogue has {len(ids)} anime, fewer than --count {count}")
        batches = [ids[i : i + batch] for i in range(0, len(ids), batch)]
        checksum_before = anime_table_checksum()
        client = redis.Redis.from_url(broker)
        client.flushdb()
        deadline = time.monotonic() + float(options["timeout"])

        from catalog.search.engine import engine, engine_reset
        from catalog.search.index import index_base, index_format, index_schema

        engine_reset()
        settings.QDRANT_URL = ""
        settings.QDRANT_PATH = workdir / "search-index"
        with engine().building(index_base(), schema=index_schema(), format=index_format()):
            pass  # an empty live generation for the workers to fill

        app = _app(broker)
        sent = [app.send_task(TASK, args=[b], queue=QUEUE).id for b in batches]
        app.close()
        self.stdout.write(f"sent {len(sent)} tasks of {batch} MAL ids ({len(ids)} anime) to {broker}")

        first_log = workdir / "worker-1.log"
        worker = self.worker_start(workdir, broker, first_log)
        kill_when_left = len(sent) * (1 - float(options["kill_at"]))
        in_flight: list[str] = []
        while True:
            if time.monotonic() > deadline:
                self.worker_stop(worker, kill=True)
                raise CommandError("timed out before the kill")
            if worker.poll() is not None:
                raise CommandError(f"worker 1 exited on its own ({worker.returncode}); see {first_log}")
            waiting, unacked = client.llen(QUEUE), client.hlen("unacked")
            if waiting <= kill_when_left and unacked >= 1 and self._running(first_log):
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                in_flight = sorted(self._running(first_log))
                break
            time.sleep(0.02)
        done_before = len(self._succeeded(first_log))
        self.stdout.write(
            f"kill -9 worker 1 (pid {worker.pid}) after {done_before} tasks done, {len(in_flight)} in flight, "
            f"{client.llen(QUEUE)} waiting, {client.hlen('unacked')} unacknowledged"
        )

        second_log = workdir / "worker-2.log"
        worker = self.worker_start(workdir, broker, second_log)
        self.stdout.write(f"worker 2 started; redelivery after the {VISIBILITY_TIMEOUT} s visibility timeout …")
        try:
            while client.llen(QUEUE) or client.hlen("unacked") or not self._all_done(sent, first_log, second_log):
                if time.monotonic() > deadline:
                    raise CommandError("timed out waiting for the queue to drain")
                if worker.poll() is not None:
                    raise CommandError(f"worker 2 exited ({worker.returncode}); see {second_log}")
                time.sleep(0.2)
        finally:
            self.worker_stop(worker)

        first_done, second_done = self._succeeded(first_log), self._succeeded(second_log)
        second_received = self._received(second_log)
        redelivered = sorted(set(in_flight) & second_received)
        lost_tasks = [t for t in sent if t not in first_done and t not in second_done]
        twice = sorted(first_done & second_done)

        with engine().reading(index_base()) as live:
            points = live.count()
            stored = sorted(live.ids())
        engine_reset()
        missing = sorted(set(ids) - set(stored))
        extra = sorted(set(stored) - set(ids))
        duplicated = len(stored) - len(set(stored))
        checksum_after = anime_table_checksum()

        self.stdout.write("")
        self.stdout.write(f"tasks sent:        {len(sent)}")
        self.stdout.write(f"killed in flight:  {len(in_flight)}")
        self.stdout.write(f"redelivered:       {len(redelivered)}")
        self.stdout.write(f"lost (never done): {len(lost_tasks)}")
        self.stdout.write(f"done twice:        {len(twice)} (harmless: the task is idempotent)")
        self.stdout.write(f"points in index:   {points} for {len(ids)} anime")
        self.stdout.write(f"anime missing:     {len(missing)}")
        self.stdout.write(f"anime duplicated:  {duplicated + len(extra)}")
        self.stdout.write(f"anime table:       {'unchanged' if checksum_before == checksum_after else 'CHANGED'}")
        problems = []
        if not in_flight or not redelivered:
            problems.append("the kill did not hit a task in flight, or it was not redelivered")
        if lost_tasks or missing:
            problems.append(f"lost: {len(lost_tasks)} tasks, {len(missing)} anime")
        if points != len(ids) or duplicated or extra:
            problems.append(f"{points} points for {len(ids)} anime")
        if checksum_before != checksum_after:
            problems.append("the anime table changed")
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(self.style.SUCCESS("OK: every anime in the index exactly once, database unchanged"))

    # ------------------------------------------------------------------ workers

    def worker_start(self, workdir: Path, broker: str, log: Path) -> subprocess.Popen:
        env = {
            **os.environ,
            "QDRANT_URL": "",
            "QDRANT_PATH": str(workdir / "search-index"),
            "SEARCH_AUTO_INDEX": "0",
        }
        with open(log, "w") as out:
            return subprocess.Popen(
                [sys.executable, "manage.py", "fault_test", "--worker", "--broker", broker],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes the whole worker
            )

    def worker_stop(self, worker: subprocess.Popen, *, kill: bool = False) -> None:
        if worker.poll() is not None:
            return
        os.killpg(worker.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

    def worker(self, broker: str) -> None:
        """The worker process: the project's Celery settings on the test's own broker and queue."""
        import catalog.tasks  # noqa: F401  (registers the task with the app)

        app = _app(broker)
        app.set_current()
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--loglevel=INFO",
                "-Q",
                QUEUE,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )

    # ------------------------------------------------------------------ worker logs

    @staticmethod
    def _events(log: Path) -> list[tuple[str, str]]:
        if not log.exists():
            return []
        return [(m.group(1), m.group(2)) for m in LOG_LINE.finditer(log.read_text(errors="replace"))]

    def _received(self, log: Path) -> set[str]:
        return {t for t, event in self._events(log) if event == "received"}

    def _succeeded(self, log: Path) -> set[str]:
        return {t for t, event in self._events(log) if event == "succeeded"}

    def _running(self, log: Path) -> set[str]:
        return self._received(log) - self._succeeded(log)

    def _all_done(self, sent: list[str], *logs: Path) -> bool:
        done = set().union(*(self._succeeded(log) for log in logs))
        return all(t in done for t in sent)


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS
