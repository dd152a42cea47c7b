"""Error views: the API (and compat's, for the original project's scripts) answers in JSON even
when Django itself refuses a request (a body with too many fields or too large, a suspicious
header) before any API view runs."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from catalog.api import anime_not_found_message

ANIME_PATH = re.compile(r"^/api/anime/([^/]*)/")
JSON_PREFIXES = ("/api/", "/compat/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400: JSON under /api/ and /compat/ (what the schema documents, found by schemathesis), else
    Django's page."""
    if request.path.startswith(JSON_PREFIXES):
        return JsonResponse({"detail": "Bad request: the request is too large or malformed."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON under /api/ (a malformed MAL id in the path matches no route), else the site's page."""
    if request.path.startswith("/api/"):
        match = ANIME_PATH.match(request.path)
        detail = anime_not_found_message(match.group(1)) if match else "Not found."
        return JsonResponse({"detail": detail}, status=404)
    return defaults.page_not_found(request, exception)
