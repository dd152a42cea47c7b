"""The search page: ``/search/?q=…`` with the browse filters; live results through an HTMX
partial, and the same page as a plain GET form without JavaScript."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from catalog import selectors
from catalog.models import Genre
from catalog.search.fallback import index_notice
from catalog.search.forms import search_request_parse
from catalog.search.service import MAX_QUERY_LENGTH, MODES, search_anime

PAGE_LIMIT = 20
EXAMPLES = (
    "a boy who can go back in time to stop a kidnapping",
    "frieren",
    "humanity hides behind walls from giants",
    "shingeki",
)


def search_page(request: HttpRequest) -> HttpResponse:
    params = request.GET
    query = params.get("q", "").strip()
    parsed, errors, filterset = search_request_parse(params, default_limit=PAGE_LIMIT)
    if not query:
        errors.pop("q", None)  # an empty box is the starting state, not a mistake
    results = None
    if parsed is not None:
        results = search_anime(
            parsed.q, criteria=parsed.criteria, limit=parsed.limit, mode=parsed.mode, fold_franchises=parsed.fold
        )
    form = filterset.form
    labels = {"q": "Search", "mode": "Ranking", "limit": "Results", "fold": "Group franchises"}
    labels.update({name: str(field.label) for name, field in form.fields.items()})
    known = {g.name.lower() for g in Genre.objects.all()}
    context = {
        "query": query,
        "results": results,
        "errors": [(labels.get(name, name), messages) for name, messages in errors.items()],
        "degraded_notice": (results.notice if results.degraded else "") if results is not None else index_notice(),
        "form": form,
        "genres_by_kind": [
            (dict(Genre.Kind.choices).get(kind, kind), genres)
            for kind, genres in selectors.genres_by_kind().items()
            if genres
        ],
        "selected_genres": {g.strip().lower() for g in params.getlist("genre")} & known,
        "excluded_genres": {g.strip().lower() for g in params.getlist("exclude_genre")} & known,
        "fold": params.get("fold", "1") not in ("0", "false"),
        "mode": params.get("mode", "hybrid"),
        "modes": MODES,
        "max_length": MAX_QUERY_LENGTH,
        "examples": EXAMPLES,
    }
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    template = "catalog/search.html#results" if partial else "catalog/search.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
