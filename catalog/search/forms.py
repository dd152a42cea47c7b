"""Reading a search request (page, API): ``q``, ``mode``, ``limit``, ``fold`` and the browse
page's filters (through ``catalog.filters.AnimeFilter``, so the names and messages are the same)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import QueryDict

from catalog.filters import AnimeCriteria, AnimeFilter
from catalog.lists.selectors import LIST_MODES, list_filter_ids
from catalog.models import Anime
from catalog.search.understanding import FILTER_KEYS

MODES = ("hybrid", "dense", "sparse")
MAX_QUERY_LENGTH = 1000
MAX_LIMIT = 50
# Filters read from the query's words that the user can drop (the page's removable chips).
IGNORABLE = FILTER_KEYS
# The browse page's filters, every one of them (a filter added there applies to search too), but
# its sort: search ranks by relevance.
FILTER_NAMES = tuple(name for name in AnimeFilter.base_filters if name != "sort")


LIMIT_ERRORS = {key: f"Must be a whole number from 1 to {MAX_LIMIT}." for key in ("invalid", "min_value", "max_value")}


class SimilarForm(forms.Form):
    """``GET /api/anime/<mal_id>/similar/``'s (and the detail page's) parameters."""

    limit = forms.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, error_messages=LIMIT_ERRORS)
    list = forms.ChoiceField(
        choices=[(mode, mode) for mode in LIST_MODES],
        required=False,
        error_messages={"invalid_choice": f"%(value)r is not valid. Valid values: {', '.join(LIST_MODES)}."},
    )

    def criteria(self, request: Any) -> AnimeCriteria | None:
        """The ``list`` filter of ``request``'s list (call after ``is_valid()``)."""
        mode = self.cleaned_data.get("list") or ""
        if not mode:
            return None
        exclude_ids, only_ids = list_filter_ids(request, mode)
        return AnimeCriteria(list_mode=mode, exclude_ids=exclude_ids, only_ids=only_ids)


def flag_field(*, empty_value: bool | None) -> forms.TypedChoiceField:
    """An on/off query parameter: 1, 0, true or false; ``empty_value`` when it is not given."""
    return forms.TypedChoiceField(
        choices=[("1", "1"), ("0", "0"), ("true", "true"), ("false", "false")],
        required=False,
        coerce=lambda v: v in ("1", "true"),
        empty_value=empty_value,
        error_messages={"invalid_choice": "%(value)r is not valid. Valid values: 1, 0, true, false."},
    )


class SearchForm(forms.Form):
    q = forms.CharField(
        max_length=MAX_QUERY_LENGTH,
        strip=True,
        error_messages={
            "required": "Type what you are looking for: a title or a description of the plot (1 to 1,000 characters).",
            "max_length": f"At most {MAX_QUERY_LENGTH:,} characters (you sent %(show_value)d).",
        },
    )
    mode = forms.ChoiceField(
        choices=[(m, m) for m in MODES],
        required=False,
        error_messages={"invalid_choice": f"%(value)r is not a mode. Valid values: {', '.join(MODES)}."},
    )
    limit = forms.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, error_messages=LIMIT_ERRORS)
    fold = flag_field(empty_value=None)
    literal = flag_field(empty_value=False)
    ignore = forms.MultipleChoiceField(
        choices=[(name, name) for name in IGNORABLE],
        required=False,
        error_messages={"invalid_choice": f"%(value)r is not valid. Valid values: {', '.join(IGNORABLE)}."},
    )


@dataclass(frozen=True)
class SearchRequest:
    q: str
    mode: str
    limit: int
    fold: bool
    criteria: AnimeCriteria
    # Search the words as typed (no query understanding), and the understood filters to drop.
    literal: bool = False
    ignore: frozenset[str] = frozenset()


@dataclass
class SearchParse:
    """A read search request: the validated ``request`` (None when ``errors``), the bound search
    form and the bound filter (for the page's form; None in the API when no filter is given)."""

    request: SearchRequest | None
    errors: dict[str, list[str]]
    form: SearchForm
    filterset: AnimeFilter | None


def search_request_parse(
    params: QueryDict, *, default_limit: int = 10, with_filterset: bool = True, request: Any = None
) -> SearchParse:
    """The one reading of a search request (page, API, command): ``q``, ``mode``, ``limit``,
    ``fold`` by ``SearchForm``, the filters by ``AnimeFilter`` (``request``: whose list the
    ``list`` filter reads)."""
    form = SearchForm(params)
    filter_data = QueryDict(mutable=True)
    for name in FILTER_NAMES:
        values = [v for v in params.getlist(name) if v.strip()]
        if values:
            filter_data.setlist(name, values)
    filterset = (
        AnimeFilter(filter_data, queryset=Anime.objects.none(), request=request)
        if filter_data or with_filterset
        else None
    )
    errors: dict[str, list[str]] = {}
    form_ok = form.is_valid()
    # Without filter parameters there is nothing to validate (building the filter form costs ~3 ms).
    filters_ok = filterset is None or not filter_data or filterset.is_valid()
    if not form_ok:
        errors.update({name: list(messages) for name, messages in form.errors.items()})
    if not filters_ok and filterset is not None:
        errors.update({name: list(messages) for name, messages in filterset.errors.items()})
    if errors:
        return SearchParse(None, errors, form, filterset)
    data = form.cleaned_data
    fold = data.get("fold")
    request = SearchRequest(
        q=data["q"],
        mode=data.get("mode") or "hybrid",
        limit=data.get("limit") or default_limit,
        fold=True if fold is None else fold,
        literal=bool(data.get("literal")),
        ignore=frozenset(data.get("ignore") or ()),
        criteria=filterset.criteria() if filterset is not None and filter_data else AnimeCriteria(),
    )
    return SearchParse(request, {}, form, filterset)
