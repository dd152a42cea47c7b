"""Reject NUL characters in query strings and form bodies with a 400 naming the parameter.

Postgres cannot hold NUL in text (psycopg raises before the query runs), and no real input has
one; stopping them here keeps every form, page and endpoint from turning one into a 500. JSON
bodies are left to the views, which validate their own fields (the evaluator strips NUL from a
synopsis; unknown names are refused).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

NUL = "\x00"
MESSAGE = "Must not contain NUL characters."
JSON_PREFIXES = ("/api/", "/compat/")


def _offending(request: HttpRequest) -> str | None:
    """The first parameter name (or value's name) holding a NUL, else None."""
    sources = [request.GET]
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sources.append(request.POST)
    for data in sources:
        for name, values in data.lists():
            if NUL in name or any(NUL in value for value in values if isinstance(value, str)):
                return name.replace(NUL, "")[:40] or "parameter"
    return None


class NulCharacterGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = _offending(request)
        if name is not None:
            if request.path.startswith(JSON_PREFIXES):
                return JsonResponse({name: [MESSAGE]}, status=400)
            message = f"The parameter {name!r} must not contain NUL characters."
            return render(request, "400.html", {"message": message}, status=400)
        return self.get_response(request)
