"""The upcoming page (filters and pagination like browse, an HTMX results partial) and the home
page's "next season" strip (an HTMX partial the home page loads, with a plain link without
JavaScript: the catalogue app does not reach into the evaluator's tables)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from catalog import selectors as catalog_selectors
from catalog.views import PAGE_SIZE, form_error_list, form_field_errors
from evaluator.models import TrainingRun
from evaluator.services import model_unavailable_reason
from evaluator.upcoming import selectors


def _model_state() -> dict[str, object]:
    """What the empty states need: the active run, why there is none, the stored predictions' run."""
    active = TrainingRun.objects.active()
    stored = selectors.upcoming_stored()
    return {
        "active_run": active,
        "model_unavailable": "" if active is not None else model_unavailable_reason(),
        "stored": stored,
        "nothing_upcoming": stored is None and not selectors.upcoming_anime().exists(),
    }


@require_GET
def upcoming(request: HttpRequest) -> HttpResponse:
    filterset = selectors.upcoming_filter(params=request.GET, request=request)
    valid = filterset.is_valid()
    selected_genres, excluded_genres = filterset.genre_selection()
    ids = filterset.predictions().values_list("pk", flat=True) if valid else []
    paginator = Paginator(ids, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = selectors.upcoming_page_rows(list(page.object_list))
    context = {
        **_model_state(),
        "filterset": filterset,
        "form": filterset.form,
        "valid": valid,
        "error_list": form_error_list(filterset.form) if not valid else [],
        "field_errors": form_field_errors(filterset.form),
        "page": page,
        "paginator": paginator,
        "page_range": list(paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)),
        "selected_genres": selected_genres,
        "excluded_genres": excluded_genres,
        "selected_tags": filterset.tag_selection(),
        "genres_by_kind": catalog_selectors.genre_groups(),
    }
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    context["oob_errors"] = partial
    response = render(request, "evaluator/upcoming.html#results" if partial else "evaluator/upcoming.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
def upcoming_promising(request: HttpRequest) -> HttpResponse:
    """The home page's strip: the next season's most promising anime."""
    promising = selectors.upcoming_promising()
    context = {**_model_state(), "promising": promising, "season_label": promising[0].season_label if promising else ""}
    return render(request, "evaluator/upcoming.html#promising", context)
