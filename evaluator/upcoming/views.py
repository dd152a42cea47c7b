"""The upcoming page (filters and pagination like browse, an HTMX results partial) and the home
page's "next season" strip (an HTMX partial the home page loads, with a plain link without
JavaScript: the catalogue app does not reach into the evaluator's tables)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog.views import PAGE_SIZE, filter_page_context, filter_page_render
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
    ids = filterset.predictions().values_list("pk", flat=True) if valid else []
    paginator = Paginator(ids, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = selectors.upcoming_page_rows(list(page.object_list))
    context = {**_model_state(), **filter_page_context(filterset, valid=valid, page=page, paginator=paginator)}
    return filter_page_render(request, "evaluator/upcoming.html", context)


@require_GET
def upcoming_promising(request: HttpRequest) -> HttpResponse:
    """The home page's strip: the next season's most promising anime."""
    promising = selectors.upcoming_promising()
    context = {**_model_state(), "promising": promising, "season_label": promising[0].season_label if promising else ""}
    return render(request, "evaluator/upcoming.html#promising", context)
