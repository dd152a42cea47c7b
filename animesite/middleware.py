"""Request-level plumbing: a request id on every request, its log lines and its response;
health probes answered before host checks and SSL redirects; a rate limit on admin logins."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from animesite.logs import request_id_var

logger = logging.getLogger("animesite.request")

# An incoming id is kept only when it cannot smuggle anything into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Handler = Callable[[HttpRequest], HttpResponse]


def request_id_of(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes the proxy's ``X-Request-ID`` (or makes one), exposes it to log records through a
    context variable, returns it on the response and, when ``REQUEST_LOG`` is on, writes one
    access line per request."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset at the end: Django's own "django.request" line for a 4xx/5xx is written after
        # the middleware returns and should carry the id too; the next request overwrites it.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        if settings.REQUEST_LOG:
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "remote_addr": request.META.get("REMOTE_ADDR", ""),
                },
            )
        return response


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` before the host check and the SSL redirect: load
    balancers and container health checks probe by IP over plain HTTP."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            from animesite import health

            if request.path == "/healthz":
                return health.healthz(request)
            if request.path == "/readyz":
                return health.readyz(request)
        return self.get_response(request)


class AdminLoginThrottle(SimpleRateThrottle):
    """Login attempts per client address (rate ``admin_login`` in DEFAULT_THROTTLE_RATES)."""

    scope = "admin_login"

    def get_cache_key(self, request: HttpRequest, view: object) -> str:  # type: ignore[override]
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AdminLoginRateLimitMiddleware:
    """Refuses admin login POSTs past the rate with 429, so passwords cannot be guessed at speed."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path == reverse("admin:login"):
            throttle = AdminLoginThrottle()
            if not throttle.allow_request(request, None):  # type: ignore[arg-type]
                wait = throttle.wait()
                response = HttpResponse(
                    "Too many login attempts from your address. Try again later.",
                    status=429,
                    content_type="text/plain; charset=utf-8",
                )
                if wait:
                    response["Retry-After"] = str(int(wait) + 1)
                return response
        return self.get_response(request)
