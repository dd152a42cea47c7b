"""Server-rendered public pages: home, browse (with an HTMX results partial) and detail."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from catalog import selectors
from catalog.filters import DEFAULT_SORT
from catalog.lists.selectors import list_for_request
from catalog.models import Anime, Genre, TierThresholds
from catalog.search.forms import SimilarForm
from catalog.search.service import similar_anime
from catalog.tiers import MEMBERS_PER_RATING, RELIABLE_RATINGS, TIER_ORDER

PAGE_SIZE = 24
SIMILAR_ON_PAGE = 6
HOME_CARDS_PER_TIER = 6
RELATED_LIMIT = 30

# Fields shown in pairs under one legend, whose messages need their own label.
RANGE_FIELDS = frozenset({"year_min", "year_max", "score_min", "score_max"})

# The sort choices of the shared filter, in the order and wording a reader expects.
SORT_LABELS: tuple[tuple[str, str], ...] = (
    ("-members", "Most members"),
    ("-score", "Highest score"),
    ("score", "Lowest score"),
    ("-year", "Newest"),
    ("year", "Oldest"),
    ("title", "Title A–Z"),
    ("-title", "Title Z–A"),
    ("members", "Fewest members"),
)


def home(request: HttpRequest) -> HttpResponse:
    counts = selectors.tier_counts()
    per_tier = selectors.anime_most_watched_per_tier(limit=HOME_CARDS_PER_TIER)
    thresholds = TierThresholds.objects.current()
    tiers = [
        {
            "value": tier.value,
            "label": tier.label,
            "count": counts[tier.value],
            "lower_bound": thresholds.cutoffs.lower_bound(tier) if thresholds else None,
            "anime": per_tier[tier.value],
        }
        for tier in TIER_ORDER
    ]
    context = {
        "anime_count": Anime.objects.for_everyone().count(),
        "genre_count": Genre.objects.count(),
        "thresholds": thresholds,
        "tiers": tiers,
        "genres_by_kind": selectors.genre_groups(),
        "import_run": selectors.catalog_import_running(),
        "reliable_ratings": RELIABLE_RATINGS,
        "reliable_members": RELIABLE_RATINGS * MEMBERS_PER_RATING,
    }
    return render(request, "catalog/home.html", context)


def anime_list(request: HttpRequest) -> HttpResponse:
    filterset = selectors.anime_list(params=request.GET, request=request)
    valid = filterset.is_valid()
    ids = filterset.qs.values_list("mal_id", flat=True) if valid else Anime.objects.none()
    paginator = Paginator(ids, PAGE_SIZE)
    # get_page turns "abc", "-1" or "999" into the first or last page instead of an error.
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = selectors.anime_page_rows(list(page.object_list))
    context = {
        **filter_page_context(filterset, valid=valid, page=page, paginator=paginator),
        "import_run": selectors.catalog_import_running(),
        "sort_labels": SORT_LABELS,
        "current_sort": filterset.form["sort"].value() or DEFAULT_SORT,
    }
    return filter_page_render(request, "catalog/anime_list.html", context)


def filter_page_context(filterset: Any, *, valid: bool, page: Page, paginator: Paginator) -> dict[str, object]:
    """What a filtered, paginated page's template needs of its filter and page (browse, upcoming)."""
    selected_genres, excluded_genres = filterset.genre_selection()
    return {
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
        "genres_by_kind": selectors.genre_groups(),
    }


def filter_page_render(request: HttpRequest, template: str, context: dict[str, object]) -> HttpResponse:
    """The whole page, or its ``#results`` partial for an HTMX request (browse, upcoming)."""
    # A history restore after a cache miss also carries HX-Request but needs the whole page.
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    # The partial also refreshes the messages next to each field (out-of-band swaps), since
    # the form itself stays in place while the user edits it.
    context["oob_errors"] = partial
    response = render(request, f"{template}#results" if partial else template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def anime_detail(request: HttpRequest, mal_id: int) -> HttpResponse:
    anime = selectors.anime_get(mal_id=mal_id)
    if anime is None:
        raise Http404(f"No anime with MyAnimeList id {mal_id} in the catalogue.")
    if anime.adult and request.GET.get("adult", "").strip().lower() != "include":
        # Adult titles (when the catalogue holds them) only for a visitor who asks.
        return render(request, "catalog/adult_gate.html", {"mal_id": anime.mal_id})
    thresholds = TierThresholds.objects.current()
    # "More like this" takes the ``list`` filter from the address (?list=hide); a bad value is ignored.
    similar_form = SimilarForm(request.GET)
    similar_criteria = similar_form.criteria(request) if similar_form.is_valid() else None
    context = {
        "anime": anime,
        "genres": anime.genres_of_kind(Genre.Kind.GENRE),
        "themes": anime.genres_of_kind(Genre.Kind.THEME),
        "demographics": anime.genres_of_kind(Genre.Kind.DEMOGRAPHIC),
        "tags": list(anime.tags.all()),
        "reliable_ratings": RELIABLE_RATINGS,
        "related": list(selectors.anime_related(anime=anime)[:RELATED_LIMIT]),
        # "More like this": the index's nearest neighbours, or popular anime sharing its genres.
        "similar": similar_anime(anime, limit=SIMILAR_ON_PAGE, criteria=similar_criteria),
        "similar_list_mode": similar_criteria.list_mode if similar_criteria else "",
        "user_list": list_for_request(request),
        "thresholds": thresholds,
        "tier_lower_bound": thresholds.cutoffs.lower_bound(anime.tier) if thresholds and anime.tier else None,
    }
    return render(request, "catalog/anime_detail.html", context)


def form_error_list(form: forms.Form) -> list[tuple[str, list[str]]]:
    """Each invalid field's label with its messages, for the summary above the results."""
    return [
        (str(form.fields[name].label) if name in form.fields else "Filters", list(messages))
        for name, messages in form.errors.items()
    ]


def form_field_errors(form: forms.Form) -> dict[str, dict[str, object]]:
    """Messages per field (empty for valid ones), keyed by field name, plus ``all`` for the form-wide ones."""
    entries: dict[str, dict[str, object]] = {
        name: {
            "name": name,
            "label": str(field.label),
            "prefix": name in RANGE_FIELDS,
            "messages": list(form.errors.get(name, [])),
        }
        for name, field in form.fields.items()
    }
    entries["all"] = {"name": "all", "label": "", "prefix": False, "messages": list(form.non_field_errors())}
    return entries
