"""Error views: the API answers in JSON even when Django itself refuses a request (a body with
too many fields or too large, a suspicious header) before any API view runs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400: JSON under /api/ (what the schema documents, found by schemathesis), else Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request: the request is too large or malformed."}, status=400)
    return defaults.bad_request(request, exception)
