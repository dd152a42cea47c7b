"""Rate limits that hold across processes: every counter lives in Django's cache (Redis in
production, so all gunicorn workers and machines count together; the in-process cache of the
embedded default counts per process, which is fine for one developer).

DRF's own throttles keep a list of timestamps per client and write it back after reading it: two
workers reading at once both pass and one write is lost, so under load a limit lets through far
more than it says. Here each request is one atomic ``incr`` of a counter for the client's current
window, which starts at its first request and lasts the rate's period (so "60/minute" is at most
60 in any window a client opens; unlike clock-aligned windows, no burst of twice the rate at a
window's edge).

The API's throttles (settings ``DEFAULT_THROTTLE_CLASSES``) and the pages' (``page_throttle``)
are the same classes with the same cache keys, so a page and its API share one budget per scope.
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import throttling


def _window(key: str, duration: int, now: float) -> float:
    """The start of ``key``'s current window: its first request since the last window ended. Every
    worker sees the same start (``add`` only writes when absent, atomically in Redis)."""
    cache.add(f"{key}:start", now, timeout=duration)
    start = cache.get(f"{key}:start")
    return now if start is None else float(start)  # expired between the two calls: a new window


def window_hit(key: str, limit: int, duration: int, *, now: float | None = None) -> tuple[bool, float]:
    """Count one hit of ``key`` in its current window: (allowed, seconds until the window ends)."""
    now = time.time() if now is None else now
    start = _window(key, duration, now)
    counter = f"{key}:{start:.6f}"
    cache.add(counter, 0, timeout=duration + 1)
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=duration + 1)
        count = 1
    return count <= limit, max(0.0, start + duration - now)


def window_count(key: str, duration: int, *, now: float | None = None) -> tuple[int, float]:
    """(hits of ``key`` counted so far in its current window, without adding one; seconds until
    the window ends)."""
    now = time.time() if now is None else now
    start = cache.get(f"{key}:start")
    if start is None:
        return 0, 0.0
    return int(cache.get(f"{key}:{float(start):.6f}", 0)), max(0.0, float(start) + duration - now)


def rate_parse(rate: str) -> tuple[int, int]:
    """ "20/hour" -> (20, 3600), as DRF reads its rates (s, m, h, d; only the first letter counts)."""
    return throttling.SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type,return-value]


class WindowCounterMixin:
    """``allow_request`` of DRF's SimpleRateThrottle on an atomic counter (see the module)."""

    rate: str | None
    num_requests: int
    duration: int

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if key is None:
            return True
        allowed, self._wait = window_hit(key, self.num_requests, self.duration)
        return allowed

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class AnonRateThrottle(WindowCounterMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(WindowCounterMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(WindowCounterMixin, throttling.ScopedRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        # DRF's ScopedRateThrottle reads the rate of the view's scope here, then counts.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


def client_address(request: HttpRequest) -> str:
    """The client's address as every limit reads it (``API_NUM_PROXIES`` decides whether the
    proxy's X-Forwarded-For is trusted): one rule for the API, the pages and sign-in."""
    return throttling.BaseThrottle().get_ident(request)  # type: ignore[arg-type]


def too_many_requests(request: HttpRequest, wait: float | None, message: str) -> HttpResponse:
    """The 429 page a person sees: what happened and when to try again (``Retry-After`` too)."""
    seconds = max(1, math.ceil(wait or 60))
    minutes = math.ceil(seconds / 60)
    when = f"{seconds} seconds" if seconds < 90 else f"{minutes} minutes"
    template = "_too_many.html" if getattr(request, "htmx", False) else "429.html"
    response = render(request, template, {"message": message, "retry_in": when}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def page_throttle(request: HttpRequest, scope: str) -> HttpResponse | None:
    """The API's throttle of ``scope`` applied to a page: None when the request may go on, else the
    429 page. The page and the API endpoints of the scope count against the same budget."""
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return None
    return too_many_requests(
        request, throttle.wait(), "You are sending requests faster than this site can serve everyone."
    )
