"""The one filter of the catalogue, shared by the browse page, the API and the search service.

Query parameters: ``genre`` and ``exclude_genre`` (repeatable; genres, themes and demographics
by name, case-insensitive), ``type``, ``year_min``, ``year_max``, ``score_min``, ``score_max``,
``tier``, ``sort`` (``score``, ``members``, ``year``, ``title``; ``-`` for descending), ``list``
(``hide`` the anime on the visitor's imported list, ``unseen``: hide those watched, watching,
on hold or dropped, ``plan-to-watch``: only those planned; the list is the request's, see
``catalog.lists``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import django_filters
import django_filters.fields
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet

from catalog.lists.selectors import list_filter_ids
from catalog.models import Anime, Genre, Tag
from catalog.tiers import Tier
from catalog.vocabulary import ANIME_TYPES

SORT_FIELDS = {"score": "score", "members": "members", "year": "year", "title": "title"}
SORT_CHOICES = [(key, key) for name in SORT_FIELDS for key in (name, f"-{name}")]
DEFAULT_SORT = "-members"
YEAR_RANGE = (1900, 2100)
# The most values one repeatable parameter takes: more than the catalogue's 77 genre, theme and
# demographic names, so only repeats and unknown names are refused by it.
MAX_REPEATED = 100


class NameMultipleChoiceField(forms.MultipleChoiceField):
    """Repeatable names matched case-insensitively to their canonical spelling; an unknown
    name fails with a message that lists the valid ones, and more than ``MAX_REPEATED`` values
    fail at once (there are fewer names than that)."""

    def __init__(self, *args: Any, what: str = "value", **kwargs: Any) -> None:
        self.what = what
        super().__init__(*args, **kwargs)

    def _canonical(self) -> dict[str, str]:
        return {str(value).lower(): str(value) for value, _ in self.choices}

    def to_python(self, value: Any) -> list[str]:
        values = super().to_python(value)
        if not values:  # the names (a query, then a walk over them) only when some are given
            return []
        canonical = self._canonical()
        return [canonical.get(v.strip().lower(), v.strip()) for v in values if v.strip()]

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        if not value:
            return
        if len(value) > MAX_REPEATED:
            raise ValidationError(
                "At most %(max)d %(what)s names (you sent %(count)d).",
                code="max_values",
                params={"max": MAX_REPEATED, "what": self.what, "count": len(value)},
            )
        canonical = set(self._canonical().values())
        unknown = [v for v in value if v not in canonical]
        if unknown:
            # User input goes in params, never into the message itself: consumers interpolate
            # ``message % params`` and a literal "%" in a query would otherwise break that.
            raise ValidationError(
                "Unknown %(what)s %(names)s. Valid values: %(valid)s.",
                code="invalid_choice",
                params={
                    "what": self.what,
                    "names": ", ".join(repr(u) for u in unknown),
                    "valid": ", ".join(sorted(canonical)),
                },
            )


class NameMultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    field_class = NameMultipleChoiceField


class CaseInsensitiveChoiceField(django_filters.fields.ChoiceField):
    def to_python(self, value: Any) -> str:
        value = super().to_python(value).strip()
        for choice, _ in self.choices:
            if str(choice).lower() == value.lower():
                return str(choice)
        return value

    def validate(self, value: str) -> None:
        if value and not self.valid_value(value):
            valid = ", ".join(str(c) for c, _ in self.choices if c != "")
            raise ValidationError(
                "%(value)s is not a valid choice. Valid values: %(valid)s.",
                code="invalid_choice",
                params={"value": repr(value), "valid": valid},
            )


class CaseInsensitiveChoiceFilter(django_filters.ChoiceFilter):
    field_class = CaseInsensitiveChoiceField


class BoundedNumberFilter(django_filters.NumberFilter):
    """A number between the filter's own ``min_value`` and ``max_value``: without django-filter's
    extra 1e50 ceiling, whose second message ("less than or equal to 1e+50") followed the
    field's own for a value like 1e400."""

    def get_max_validator(self) -> None:
        return None


class AnimeFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for low, high in (("year_min", "year_max"), ("score_min", "score_max")):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, f"Must be at least {low.replace('_', ' ')} ({data[low]:g}).")
        return data


def genre_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in Genre.objects.order_by("name").values_list("name", flat=True)]


def tag_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in Tag.objects.order_by("name").values_list("name", flat=True)]


class AnimeFilter(django_filters.FilterSet):
    # The declared filters validate the parameters and document them (form, OpenAPI); the
    # filtering itself is AnimeCriteria.apply, which search shares.
    genre = NameMultipleChoiceFilter(
        field_name="genres__name",
        what="genre",
        label="Genres",
        help_text="Genre, theme or demographic (repeatable; all must match).",
    )
    exclude_genre = NameMultipleChoiceFilter(
        field_name="genres__name",
        what="genre",
        label="Exclude genres",
        help_text="Hide anime with any of these (repeatable).",
    )
    type = CaseInsensitiveChoiceFilter(
        field_name="type", choices=[(t, t) for t in ANIME_TYPES], label="Type", empty_label="Any type"
    )
    year_min = BoundedNumberFilter(
        field_name="year", lookup_expr="gte", label="From year", min_value=YEAR_RANGE[0], max_value=YEAR_RANGE[1]
    )
    year_max = BoundedNumberFilter(
        field_name="year", lookup_expr="lte", label="To year", min_value=YEAR_RANGE[0], max_value=YEAR_RANGE[1]
    )
    score_min = BoundedNumberFilter(field_name="score", lookup_expr="gte", label="Min score", min_value=0, max_value=10)
    score_max = BoundedNumberFilter(field_name="score", lookup_expr="lte", label="Max score", min_value=0, max_value=10)
    tier = CaseInsensitiveChoiceFilter(field_name="tier", choices=Tier.choices, label="Tier", empty_label="Any tier")
    sort = CaseInsensitiveChoiceFilter(field_name="sort", choices=SORT_CHOICES, label="Sort by", empty_label=None)
    list = CaseInsensitiveChoiceFilter(
        field_name="list",
        choices=[
            ("hide", "Hide anime on my list"),
            ("unseen", "Hide what I have seen"),
            ("plan-to-watch", "Only my Plan to Watch"),
        ],
        label="My list",
        empty_label="Show everything",
        help_text="With an imported MyAnimeList list: hide its anime, hide the ones seen, or keep only Plan to Watch.",
    )
    tag = NameMultipleChoiceFilter(
        field_name="tags__name",
        what="tag",
        label="Tags",
        help_text="Descriptive tags beyond the genres, e.g. Time Loop (repeatable; all must match).",
    )
    adult = CaseInsensitiveChoiceFilter(
        field_name="adult",
        choices=[("include", "Include adult titles")],
        label="Adult titles",
        empty_label="Hide adult titles",
        help_text="Adult titles (Hentai, Rx) are hidden unless asked for (when the catalogue holds any).",
    )

    class Meta:
        model = Anime
        fields: list[str] = []
        form = AnimeFilterForm

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Callables: a form field copies and walks a list of choices when it is made (~1,000
        # names with the tags: ~4 ms a request), a callable only when a value is checked or the
        # form is drawn; each filter's own cached wrapper reads each list at most once.
        self.genre_choices, self.tag_choices = functools.cache(genre_choices), functools.cache(tag_choices)
        for name in ("genre", "exclude_genre"):
            self.filters[name].extra["choices"] = self.genre_choices
        self.filters["tag"].extra["choices"] = self.tag_choices

    def filter_queryset(self, queryset: QuerySet[Anime]) -> QuerySet[Anime]:
        criteria = self.criteria()
        return anime_sort(criteria.apply(queryset), criteria.sort or DEFAULT_SORT)

    def genre_selection(self) -> tuple[set[str], set[str]]:
        """The genres ticked and excluded (lower-cased, known names only), from the bound data:
        the form shows them ticked again even when another field is wrong."""
        known = {str(value).lower() for value, _ in self.genre_choices()}

        def chosen(name: str) -> set[str]:
            return {v.strip().lower() for v in self.data.getlist(name)} & known

        return chosen("genre"), chosen("exclude_genre")

    def tag_selection(self) -> set[str]:
        """The tags ticked (lower-cased, known names only), from the bound data, like ``genre_selection``."""
        known = {str(value).lower() for value, _ in self.tag_choices()}
        return {v.strip().lower() for v in self.data.getlist("tag")} & known

    def criteria(self) -> AnimeCriteria:
        """The validated parameters as plain data (call after ``is_valid()``); ``list`` becomes
        the ids of the request's list to hide or to keep."""
        data = self.form.cleaned_data
        mode = data.get("list") or ""
        exclude_ids, only_ids = list_filter_ids(self.request, mode)
        return AnimeCriteria(
            genres=list(data.get("genre") or []),
            exclude_genres=list(data.get("exclude_genre") or []),
            type=data.get("type") or "",
            year_min=int(data["year_min"]) if data.get("year_min") is not None else None,
            year_max=int(data["year_max"]) if data.get("year_max") is not None else None,
            score_min=float(data["score_min"]) if data.get("score_min") is not None else None,
            score_max=float(data["score_max"]) if data.get("score_max") is not None else None,
            tier=data.get("tier") or "",
            sort=data.get("sort") or "",
            list_mode=mode,
            exclude_ids=exclude_ids,
            only_ids=only_ids,
            tags=list(data.get("tag") or []),
            adult=data.get("adult") == "include",
        )


@dataclass(frozen=True)
class AnimeCriteria:
    """Validated filter values, for consumers that do not filter a queryset (search)."""

    genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    type: str = ""
    year_min: int | None = None
    year_max: int | None = None
    score_min: float | None = None
    score_max: float | None = None
    tier: str = ""
    sort: str = ""
    list_mode: str = ""
    exclude_ids: frozenset[int] = frozenset()  # the list's anime to hide
    only_ids: frozenset[int] | None = None  # the list's anime to keep only
    tags: list[str] = field(default_factory=list)
    adult: bool = False  # include adult titles (asked for); hidden otherwise

    def apply(self, queryset: QuerySet[Anime]) -> QuerySet[Anime]:
        """Filter anime by these criteria (the one implementation: browse, API and search)."""
        queryset = queryset.with_all_genres(self.genres).without_genres(self.exclude_genres).with_all_tags(self.tags)
        if not self.adult:
            queryset = queryset.for_everyone()
        if self.exclude_ids:
            queryset = queryset.exclude(mal_id__in=self.exclude_ids)
        if self.only_ids is not None:
            queryset = queryset.filter(mal_id__in=self.only_ids)
        lookups = {
            "type": self.type,
            "tier": self.tier,
            "year__gte": self.year_min,
            "year__lte": self.year_max,
            "score__gte": self.score_min,
            "score__lte": self.score_max,
        }
        return queryset.filter(**{lookup: value for lookup, value in lookups.items() if value not in (None, "")})

    @property
    def is_empty(self) -> bool:
        return (
            not any((self.genres, self.exclude_genres, self.tags, self.type, self.tier, self.exclude_ids))
            and self.only_ids is None
            and all(v is None for v in (self.year_min, self.year_max, self.score_min, self.score_max))
        )


def anime_sort(queryset: QuerySet[Anime], sort: str) -> QuerySet[Anime]:
    descending = sort.startswith("-")
    field_name = SORT_FIELDS[sort.lstrip("-")]
    expression = F(field_name).desc(nulls_last=True) if descending else F(field_name).asc(nulls_last=True)
    return queryset.order_by(expression, "mal_id")
