"""Pages of a visitor's own list: import (``/my-list/``), clear, and recommendations
(``/for-you/``). Only the visitor's own list is ever shown: there is no address of anyone else's."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from catalog import selectors
from catalog.lists.parsing import MAX_ENTRIES, ListFileError, max_upload_mb
from catalog.lists.recommend import recommend
from catalog.lists.selectors import list_for_request
from catalog.lists.services import list_clear, list_import
from catalog.lists.uploads import uploaded_bytes
from catalog.models import ListStatus

FOR_YOU_LIMIT = 12


def _list_context(request: HttpRequest, error: str = "") -> dict[str, object]:
    user_list = list_for_request(request)
    return {
        "user_list": user_list,
        "summary": user_list.summary() if user_list is not None else None,
        "statuses": ListStatus.choices,
        "error": error,
        "max_mb": max_upload_mb(),
        "max_entries": MAX_ENTRIES,
    }


@require_http_methods(["GET", "POST"])
def my_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "catalog/my_list.html", _list_context(request))
    try:
        imported = list_import(request=request, data=uploaded_bytes(request))
    except ListFileError as error:
        response = render(request, "catalog/my_list.html", _list_context(request, str(error)), status=400)
        return response
    summary = imported.summary()
    note = (
        f" ({summary['not_in_catalogue']:,} not in our catalogue, kept for later)"
        if summary["not_in_catalogue"]
        else ""
    )
    messages.success(request, f"Imported {summary['entries']:,} entries{note}.")
    return redirect("catalog:my-list")


@require_POST
def my_list_clear(request: HttpRequest) -> HttpResponse:
    list_clear(request=request)
    messages.success(request, "Your list is cleared.")
    return redirect("catalog:my-list")


def for_you(request: HttpRequest) -> HttpResponse:
    user_list = list_for_request(request)
    filterset = selectors.anime_list(params=request.GET, request=request)
    valid = filterset.is_valid()
    results = None
    if user_list is not None and valid:
        results = recommend(user_list.entries, criteria=filterset.criteria(), limit=FOR_YOU_LIMIT)
    context = {
        "user_list": user_list,
        "results": results,
        "form": filterset.form,
        "errors": filterset.form.errors if not valid else {},
    }
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(request, "catalog/for_you.html#results" if partial else "catalog/for_you.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
