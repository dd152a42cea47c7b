"""Pages of a visitor's own list: import (``/my-list/``), clear, and recommendations
(``/for-you/``). Only the visitor's own list is ever shown: there is no address of anyone else's."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from animesite.throttling import page_throttle
from catalog import selectors
from catalog.lists.parsing import MAX_ENTRIES, ListFileError, max_upload_mb
from catalog.lists.recommend import recommend
from catalog.lists.selectors import list_for_request, list_pending_for_request
from catalog.lists.services import list_clear, list_import, list_pending_resolve
from catalog.lists.uploads import uploaded_bytes
from catalog.models import ListStatus

FOR_YOU_LIMIT = 12


def _list_context(request: HttpRequest, error: str = "") -> dict[str, object]:
    user_list = list_for_request(request)
    pending = list_pending_for_request(request)
    return {
        "user_list": user_list,
        "summary": user_list.summary() if user_list is not None else None,
        "pending": pending.summary() if pending is not None else None,
        "statuses": ListStatus.choices,
        "error": error,
        "max_mb": max_upload_mb(),
        "max_entries": MAX_ENTRIES,
        "session_days": settings.SESSION_COOKIE_AGE // 86400,
    }


@require_http_methods(["GET", "POST"])
def my_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "catalog/my_list.html", _list_context(request))
    if refused := page_throttle(request, "list_import"):
        return refused
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


@require_POST
def my_list_pending(request: HttpRequest) -> HttpResponse:
    """Signed in with a list imported while signed out: keep it (replacing the account's) or not."""
    keep = request.POST.get("keep", "")
    if keep not in ("imported", "account"):
        message = "The parameter 'keep' must be 'imported' or 'account'."
        return render(request, "400.html", {"message": message}, status=400)
    if not request.user.is_authenticated:
        return redirect("catalog:my-list")  # nothing can be pending while signed out
    list_pending_resolve(request=request, keep=keep)
    messages.success(
        request,
        "Your account now keeps the list you imported." if keep == "imported" else "Your account's list is kept.",
    )
    return redirect("catalog:my-list")


def for_you(request: HttpRequest) -> HttpResponse:
    user_list = list_for_request(request)
    if user_list is not None and (refused := page_throttle(request, "search")):
        return refused
    filterset = selectors.anime_list(params=request.GET, request=request)
    valid = filterset.is_valid()
    results = None
    if user_list is not None and valid:
        results = recommend(user_list.entries, criteria=filterset.criteria(), limit=FOR_YOU_LIMIT)
    context = {
        "user_list": user_list,
        "results": results,
        "form": filterset.form,
        "errors": [
            (str(filterset.form.fields[name].label) if name in filterset.form.fields else name, messages)
            for name, messages in (filterset.form.errors.items() if not valid else ())
        ],
    }
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(request, "catalog/for_you.html#results" if partial else "catalog/for_you.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
