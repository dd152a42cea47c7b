"""The search page: ``/search/?q=…`` with the browse filters; live results through an HTMX
partial, and the same page as a plain GET form without JavaScript."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from animesite.throttling import page_throttle
from catalog.search.fallback import index_notice
from catalog.search.forms import MAX_QUERY_LENGTH, MODES, search_request_parse
from catalog.search.service import search_requested
from catalog.search.understanding import QueryPlan
from catalog.selectors import catalog_import_running, genre_groups

PAGE_LIMIT = 20
EXAMPLES = (
    "a boy who can go back in time to stop a kidnapping",
    "frieren",
    "humanity hides behind walls from giants",
    "shingeki",
)


FILTER_LABELS = {"type": "{} only", "year_min": "from {}", "year_max": "up to {}"}


def understood_chips(request: HttpRequest, plan: QueryPlan | None) -> dict[str, object] | None:
    """What the page shows of how the query was read: each filter read from the words with a link
    that drops it, the soft cues, the exclusions, and a link to search the words as typed."""
    if plan is None or not plan.understood:
        return None

    def url_with(name: str, value: str) -> str:
        params = request.GET.copy()
        params.pop("page", None)
        params.setlist(name, [*params.getlist(name), value])
        return "?" + params.urlencode()

    return {
        "filters": [
            {"label": FILTER_LABELS[key].format(value), "drop_url": url_with("ignore", key)}
            for key, value in plan.filters.items()
        ],
        "preferences": [cue.label for cue in plan.preferences],
        "excluded": plan.excluded,
        "clues": len(plan.clues),
        "assisted": plan.assisted,
        "literal_url": url_with("literal", "1"),
    }


def search_page(request: HttpRequest) -> HttpResponse:
    if request.GET.get("q", "").strip() and (refused := page_throttle(request, "search")):
        return refused
    parse = search_request_parse(request.GET, default_limit=PAGE_LIMIT, request=request)
    search_form, filterset = parse.form, parse.filterset
    assert filterset is not None  # asked for: the page shows the filter form
    query = (search_form["q"].value() or "").strip()
    errors = dict(parse.errors)
    if not query:
        errors.pop("q", None)  # an empty box is the starting state, not a mistake
    results = None
    if parse.request is not None:
        found = parse.request
        results = search_requested(found)
    form = filterset.form
    labels = {"q": "Search", "mode": "Ranking", "limit": "Results", "fold": "Group franchises"}
    labels.update({name: str(field.label) for name, field in form.fields.items()})
    selected_genres, excluded_genres = filterset.genre_selection()
    context = {
        "query": query,
        "results": results,
        "import_run": catalog_import_running(),
        "errors": [(labels.get(name, name), messages) for name, messages in errors.items()],
        "degraded_notice": (results.notice if results.degraded else "") if results is not None else index_notice(),
        "form": form,
        "genres_by_kind": genre_groups(),
        "selected_genres": selected_genres,
        "excluded_genres": excluded_genres,
        "selected_tags": filterset.tag_selection(),
        "fold": search_form["fold"].value() not in ("0", "false"),
        "mode": search_form["mode"].value() or "hybrid",
        "modes": MODES,
        "max_length": MAX_QUERY_LENGTH,
        "examples": EXAMPLES,
        "understood": understood_chips(request, results.plan) if results is not None else None,
    }
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    template = "catalog/search.html#results" if partial else "catalog/search.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
