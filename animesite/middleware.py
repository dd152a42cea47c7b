"""Request-level plumbing: a request id on every request, its log lines and its response;
health probes answered before host checks and SSL redirects; writes from other sites refused."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

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


class CrossSiteWriteGuardMiddleware:
    """Refuses a write (POST, PUT, PATCH, DELETE) that a browser says comes from another site or
    origin: ``Sec-Fetch-Site`` other than same-origin, or an ``Origin`` that is neither this host
    nor in ``CSRF_TRUSTED_ORIGINS``. The CSRF token protects the forms; this also covers the API,
    whose endpoints DRF exempts from Django's CSRF middleware, and a page on another port of the
    same host (same-site, so SameSite=Lax cookies go along). Programs send neither header."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and self._cross_site(request):
            message = "Writes from another site are refused."
            if request.path.startswith(("/api/", "/compat/")):
                return JsonResponse({"detail": message}, status=403)
            return render(request, "403.html", {"message": message}, status=403)
        return self.get_response(request)

    @staticmethod
    def _cross_site(request: HttpRequest) -> bool:
        fetch_site = request.headers.get("Sec-Fetch-Site", "")
        if fetch_site and fetch_site not in ("same-origin", "none"):
            return True
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        trusted = {o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}
        if origin.rstrip("/") in trusted:
            return False
        # The host, not the scheme: behind a TLS proxy without SECURE_PROXY_SSL_HEADER the app
        # sees http while the browser says https.
        try:
            return urlsplit(origin).netloc.lower() != request.get_host().lower()
        except DisallowedHost:
            return True
