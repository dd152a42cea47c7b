"""The catalogue's REST API (read-only for anonymous users).

The list takes the same query parameters as the browse page because both use
``catalog.filters.AnimeFilter``; rows come from ``catalog.selectors``. Bad parameter values
(an unknown genre, ``year_min=abc``, ``page=99999``) answer 400 with the field's name.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.paginator import InvalidPage
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.settings import api_settings

from catalog import selectors
from catalog.filters import DEFAULT_SORT, SORT_CHOICES, YEAR_RANGE, AnimeFilter
from catalog.lists.selectors import LIST_MODES
from catalog.models import Anime, Genre, Tag, TierThresholds
from catalog.serializers import AnimeDetailSerializer, AnimeListSerializer, GenreSerializer, TagSerializer
from catalog.tiers import TIER_ORDER
from catalog.vocabulary import ANIME_TYPES


class AnimePagination(PageNumberPagination):
    """Page-number pagination whose bad ``page`` values are a client error (400 naming the
    field), not DRF's bare 404 "Invalid page"."""

    page_size = 24
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = self.django_paginator_class(queryset, page_size)
        raw = request.query_params.get(self.page_query_param, "1").strip() or "1"
        number: int | str = paginator.num_pages if raw in self.last_page_strings else raw
        try:
            number = int(number)
            if number < 1:
                raise ValueError
        except ValueError:
            raise ValidationError(
                {
                    self.page_query_param: [
                        f"{raw!r} is not a page number: use a whole number from 1 to {paginator.num_pages}."
                    ]
                }
            ) from None
        if number > paginator.num_pages:
            raise ValidationError(
                {
                    self.page_query_param: [
                        f"Page {number} does not exist: these results have {paginator.num_pages} "
                        f"page{'s' if paginator.num_pages != 1 else ''}."
                    ]
                }
            )
        try:
            self.page = paginator.page(number)
        except InvalidPage as exc:  # pragma: no cover - ruled out above; kept as a guard
            raise ValidationError({self.page_query_param: [str(exc)]}) from exc
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        self.request = request
        return list(self.page)


class AnimeFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose 400 body is the filter form's own messages, by field.

    django-filter's default translation re-applies ``message % params`` to each message, which
    fails (a 500) when the message quotes user input containing ``%``, e.g. ``?genre=%25``.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Anime], view: Any) -> QuerySet[Anime]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise filter_errors(filterset)
        return filterset.qs


def filter_errors(filterset: Any) -> ValidationError:
    """The 400 of a filter's bad parameters: the form's own messages, by field."""
    return ValidationError(
        {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): list(messages)
            for field, messages in filterset.errors.items()
        }
    )


def _error_body(name: str, fields: list[str]) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            field: serializers.ListField(
                child=serializers.CharField(), required=False, help_text=f"What is wrong with `{field}`."
            )
            for field in fields
        },
    )


ANIME_LIST_ERRORS = _error_body("AnimeListError", [*AnimeFilter.base_filters.keys(), AnimePagination.page_query_param])
# Fuller descriptions than the filter labels the page forms show; types and enums still come
# from AnimeFilter itself.
ANIME_LIST_PARAMETERS = [
    OpenApiParameter("type", str, enum=list(ANIME_TYPES), description="Anime type, case-insensitive (tv = TV)."),
    OpenApiParameter(
        "year_min", int, description=f"First year aired, at least this ({YEAR_RANGE[0]}-{YEAR_RANGE[1]})."
    ),
    OpenApiParameter("year_max", int, description=f"First year aired, at most this ({YEAR_RANGE[0]}-{YEAR_RANGE[1]})."),
    OpenApiParameter("score_min", float, description="MyAnimeList score at least this (0-10)."),
    OpenApiParameter("score_max", float, description="MyAnimeList score at most this (0-10)."),
    OpenApiParameter(
        "tier", str, enum=[t.value for t in TIER_ORDER], description="Quality tier under the thresholds in force."
    ),
    OpenApiParameter(
        "sort",
        str,
        enum=[value for value, _ in SORT_CHOICES],
        description=f"Order by score, members, year or title; `-` prefix for descending. Default `{DEFAULT_SORT}`.",
    ),
    OpenApiParameter(
        "list",
        str,
        enum=list(LIST_MODES),
        description="With an imported MyAnimeList list (yours: the session's or the account's): `hide` its "
        "anime, `unseen` hides those watched, watching, on hold or dropped, `plan-to-watch` keeps only those "
        "planned.",
    ),
    OpenApiParameter(
        "tag",
        str,
        many=True,
        explode=True,
        description="Descriptive tags (names from /api/tags/, any case; repeatable, all must match).",
    ),
    OpenApiParameter(
        "adult",
        str,
        enum=["include"],
        description="Include adult titles (Hentai, Rx), which are hidden otherwise (when the catalogue holds any).",
    ),
    OpenApiParameter("page", int, description="Page number, from 1; past the last page answers 400."),
    OpenApiParameter(
        "page_size",
        int,
        description=f"Results per page (default {AnimePagination.page_size}, at most {AnimePagination.max_page_size}).",
    ),
]
NOT_FOUND = inline_serializer(name="NotFound", fields={"detail": serializers.CharField()})
# The detail takes one query parameter (``adult``); a value with a NUL character, or more
# parameters than the site reads, is refused before the view (animesite.input_guard, Django's
# field limit) with a 400 like the list's.
ANIME_DETAIL_ERRORS = inline_serializer(
    name="AnimeDetailError",
    fields={
        "adult": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="What is wrong with `adult`."
        ),
        "detail": serializers.CharField(required=False, help_text="A request too large or malformed to read."),
    },
)


def anime_not_found_message(mal_id: object) -> str:
    return f"No anime with MAL id {str(mal_id)[:40]} in the catalogue."


class ThresholdsContextMixin:
    """Hand the tier thresholds in force to the serializer once per request."""

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()  # type: ignore[misc]
        context["thresholds"] = TierThresholds.objects.current()
        return context


@extend_schema_view(
    get=extend_schema(
        summary="List and filter anime",
        description=(
            "The catalogue, filtered by the same parameters as the browse page. `genre` and "
            "`exclude_genre` repeat and take genre, theme or demographic names (see /api/genres/), "
            "case-insensitively. Default order: most members first."
        ),
        parameters=ANIME_LIST_PARAMETERS,
        responses={
            200: AnimeListSerializer(many=True),
            400: OpenApiResponse(ANIME_LIST_ERRORS, "Bad parameter values, by field."),
        },
    )
)
class AnimeListView(ThresholdsContextMixin, generics.ListAPIView):
    """The catalogue, filtered and paginated."""

    serializer_class = AnimeListSerializer
    filter_backends = [AnimeFilterBackend]
    filterset_class = AnimeFilter
    pagination_class = AnimePagination

    def get_queryset(self) -> QuerySet[Anime]:
        return selectors.anime_all()

    def paginate_queryset(self, queryset: QuerySet[Anime]) -> list[Anime] | None:
        # The page's ids first, then its rows (selectors.anime_page_rows).
        ids = super().paginate_queryset(queryset.values_list("mal_id", flat=True))
        return None if ids is None else selectors.anime_page_rows(ids)


@extend_schema_view(
    get=extend_schema(
        summary="One anime's full record",
        description="Every title, number and genre of one anime (by MyAnimeList id), its tier with the threshold in force, and its links.",
        parameters=[
            OpenApiParameter("mal_id", int, OpenApiParameter.PATH, description="MyAnimeList id."),
            OpenApiParameter("adult", str, enum=["include"], description="Needed to read an adult title."),
        ],
        responses={
            200: AnimeDetailSerializer,
            400: OpenApiResponse(ANIME_DETAIL_ERRORS, "A malformed query (a NUL character, too many parameters)."),
            404: OpenApiResponse(NOT_FOUND, "No anime with this MAL id (or an adult title not asked for)."),
        },
    )
)
class AnimeDetailView(ThresholdsContextMixin, generics.RetrieveAPIView):
    """Every title, number and genre of one anime, its tier with thresholds, and its links."""

    serializer_class = AnimeDetailSerializer
    queryset = Anime.objects.none()  # for the schema; rows come from selectors.anime_get
    lookup_field = "mal_id"

    def get_object(self) -> Anime:
        mal_id = self.kwargs["mal_id"]  # an int (catalog.converters)
        anime = selectors.anime_get(mal_id=mal_id)
        if anime is None:
            raise NotFound(anime_not_found_message(mal_id))
        if anime.adult and self.request.query_params.get("adult", "").strip().lower() != "include":
            raise NotFound(f"MyAnimeList id {mal_id} is an adult title: add adult=include to read it.")
        return anime


@extend_schema_view(
    get=extend_schema(
        summary="Genres, themes and demographics",
        description="Every name the `genre` and `exclude_genre` filters accept, with its kind and anime count.",
    )
)
class GenreListView(generics.ListAPIView):
    """Genres, themes and demographics with their anime counts."""

    serializer_class = GenreSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Genre]:
        return selectors.genres_with_anime_count()


@extend_schema_view(
    get=extend_schema(
        summary="Tags",
        description="Every name the `tag` filter accepts (descriptive tags beyond the genres), with its anime count.",
    )
)
class TagListView(generics.ListAPIView):
    """Tags with their anime counts."""

    serializer_class = TagSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Tag]:
        return selectors.tags_with_anime_count()


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from the local sidecar files; the template moves drf-spectacular's inline
    ``<style>`` into a static file so the page works under our CSP (no inline styles or scripts)."""

    template_name = "catalog/api_docs.html"
