"""The weekly crawl (Celery beat, see CELERY_BEAT_SCHEDULE).

Scrapy runs on Twisted, whose reactor cannot be restarted inside a long-lived worker, so the
task runs ``manage.py crawl`` as a subprocess. Single flight: the command holds an exclusive
lock per spider for the whole crawl, and the task checks it first so a second run is refused
(logged, not queued) while one is going.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from celery import shared_task
from django.conf import settings

from crawler.services import SPIDERS, CrawlLock
from jobs.services import BackgroundTask

logger = logging.getLogger(__name__)

MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"
# The first whole-catalogue Jikan crawl (list pages plus one relations request per anime) takes
# about 6 h 45 min at the spider's pace; one cut short resumes next time (relations still unread are
# asked for again), so the cap only keeps a stuck crawl from holding the lock for ever.
CRAWL_TIMEOUT = 12 * 60 * 60


def crawl_command(*, spider: str, stale_days: int | None) -> list[str]:
    command = [sys.executable, str(MANAGE_PY), "crawl", spider, "--progress-interval", "60"]
    if stale_days is not None:
        command += ["--stale-days", str(stale_days)]
    return command


@shared_task(
    name="crawler.tasks.crawl_refresh",
    base=BackgroundTask,
    acks_late=False,  # a crawl interrupted by a lost worker waits for next week, not a redelivery
    time_limit=CRAWL_TIMEOUT + 300,
    soft_time_limit=CRAWL_TIMEOUT + 240,
)
def crawl_refresh(spider: str = "jikan", stale_days: int | None = 7) -> dict[str, object]:
    if spider not in SPIDERS:
        raise ValueError(f"unknown spider {spider!r}")
    probe = CrawlLock(spider)
    if not probe.acquire():
        logger.warning("weekly %s crawl skipped: another one is still running (%s)", spider, probe.path)
        return {"spider": spider, "status": "skipped", "reason": "already running"}
    probe.release()  # the subprocess takes the lock itself for the whole crawl
    command = crawl_command(spider=spider, stale_days=stale_days)
    logger.info("starting: %s", " ".join(command))
    done = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=CRAWL_TIMEOUT)
    summary = done.stdout.strip().splitlines()
    if done.returncode != 0:
        logger.error("%s crawl failed (exit %s): %s", spider, done.returncode, done.stderr.strip()[-2000:])
        status = "skipped" if "crawl is running" in done.stderr else "failed"
        return {"spider": spider, "status": status, "returncode": done.returncode, "error": done.stderr.strip()[-500:]}
    logger.info("%s crawl finished: %s", spider, " / ".join(summary))
    return {"spider": spider, "status": "done", "summary": summary}
