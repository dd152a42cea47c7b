"""The crawler's entry points for the rest of the site: which spiders exist, the single-flight
lock of a crawl, and ``crawl_start`` (the staff API's "start a crawl"; beat runs the same task)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from django.conf import settings

from jobs.services import Dispatched, task_dispatch

SPIDERS = ("jikan", "mal")


class CrawlLock:
    """Single flight per spider on this machine: an exclusive ``flock`` on var/crawl-<spider>.lock.
    The kernel drops it when the process dies, so a killed crawl never leaves it stuck."""

    def __init__(self, spider: str) -> None:
        self.path = Path(settings.VAR_DIR) / f"crawl-{spider}.lock"
        self.handle: IO[str] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def crawl_start(*, spider: str, stale_days: int | None) -> Dispatched:
    """Hand a crawl to a worker (``crawler.tasks.crawl_refresh``: ``manage.py crawl`` in a
    subprocess; without a broker, in a thread of this process). A crawl already running makes the
    task skip."""
    if spider not in SPIDERS:
        raise ValueError(f"unknown spider {spider!r}: choose one of {', '.join(SPIDERS)}")
    return task_dispatch("crawler.tasks.crawl_refresh", spider=spider, stale_days=stale_days)
