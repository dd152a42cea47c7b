"""Small presentation helpers for the catalogue pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.http import HttpRequest
from django.urls import reverse

from catalog.lists.selectors import list_for_request
from catalog.models import TierThresholds
from catalog.selectors import catalogue_has_adult
from catalog.tiers import Tier

register = template.Library()


@register.filter
def tier_label(value: str) -> str:
    """ "top-tier" -> "Top-tier"; empty or unknown values give an empty string."""
    try:
        return str(Tier(value).label)
    except ValueError:
        return ""


@register.filter
def compact_number(value: int | None) -> str:
    """3613466 -> "3.6M", 412345 -> "412K", 950 -> "950"."""
    if value is None:
        return "–"
    for size, suffix in ((1_000_000, "M"), (1_000, "K")):
        if value >= size:
            number = value / size
            text = f"{number:.1f}" if number < 10 else f"{number:.0f}"
            return f"{text.removesuffix('.0')}{suffix}"
    return str(value)


@register.filter
def provenance_sources(value: str) -> list[str]:
    return [part for part in value.split("+") if part]


@register.simple_tag
def genre_url(name: str) -> str:
    """The browse page filtered to one genre, theme or demographic."""
    return f"{reverse('catalog:anime-list')}?{urlencode({'genre': name})}"


@register.simple_tag
def page_url(request: HttpRequest, number: int) -> str:
    """The current query with another page number; empty parameters are dropped so the
    address stays readable."""
    pairs = [(key, value) for key, values in request.GET.lists() for value in values if key != "page" and value != ""]
    if number != 1:
        pairs.append(("page", str(number)))
    query = urlencode(pairs)
    return f"{request.path}?{query}" if query else request.path


@register.simple_tag
def tier_rule(thresholds: TierThresholds | None, tier: str) -> str:
    """The score range of a tier under the thresholds in force, e.g. "score ≥ 7.93"."""
    if thresholds is None or not tier:
        return ""
    cutoffs = thresholds.cutoffs
    bound = cutoffs.lower_bound(Tier(tier))
    if bound is None:
        return f"score < {cutoffs.watchable:.2f}"
    return f"score ≥ {bound:.2f}"


@register.simple_tag
def scheme_name(thresholds: TierThresholds | None) -> str:
    if thresholds is None:
        return ""
    return {"quartiles": "quartiles", "seed": "seed cut-offs"}.get(thresholds.scheme, thresholds.scheme)


@register.filter
def join_list(value: Any, separator: str = ", ") -> str:
    return separator.join(str(v) for v in (value or []))


@register.inclusion_tag("catalog/_list_badge.html", takes_context=True)
def list_badge(context: template.Context, anime: Any) -> dict[str, Any]:
    """The card's mark for an anime on the visitor's imported list (status and their score), or
    for one whose franchise they completed an earlier anime of."""
    user_list = list_for_request(context.get("request"))
    return {"badge": user_list.badge(anime) if user_list is not None else None}


@register.filter
def field_named(form: Any, name: str) -> Any:
    """``form[name]`` (a bound field), for templates that pick fields by a name in a variable."""
    return form[name]


@register.simple_tag(takes_context=True)
def visitor_list(context: template.Context) -> Any:
    """The visitor's imported list (None without one)."""
    return list_for_request(context.get("request"))


@register.simple_tag
def adult_choice_offered(form: Any) -> bool:
    """The filter form offers the ``adult`` choice when the catalogue holds adult titles, or when
    the address asks for it already (so that a change of another filter keeps it)."""
    return bool(form["adult"].value()) or catalogue_has_adult()


_TYPE_NOUNS = {
    "TV": "TV series",
    "Movie": "film",
    "Special": "special",
    "Music": "music video",
    "CM": "commercial",
    "PV": "promotional video",
}


@register.filter
def type_noun(anime_type: str) -> str:
    """An anime type as a noun in a sentence: "TV" -> "TV series", "" -> "anime"."""
    return _TYPE_NOUNS.get(anime_type, anime_type or "anime")
