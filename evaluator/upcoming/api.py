"""``GET /api/upcoming/``: the upcoming anime with their stored predictions, the same filter as
the upcoming page (``UpcomingFilter``), paginated like the catalogue's list. Bad parameters answer
400 naming the field."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import ANIME_LIST_PARAMETERS, AnimePagination, filter_errors
from catalog.tiers import Tier
from evaluator.models import UpcomingPrediction
from evaluator.upcoming import selectors
from evaluator.upcoming.filters import UpcomingFilter

PARAMETERS = [p for p in ANIME_LIST_PARAMETERS if p.name not in ("score_min", "score_max", "sort", "tier")] + [
    OpenApiParameter(
        "tier", str, enum=[t.value for t in Tier], description="The predicted tier (the anime have no score yet)."
    ),
    OpenApiParameter(
        "genre",
        str,
        many=True,
        explode=True,
        description="Genre, theme or demographic names (any case; repeatable, all must match).",
    ),
    OpenApiParameter("exclude_genre", str, many=True, explode=True, description="Hide anime with any of these."),
]
ERRORS = inline_serializer(
    name="UpcomingListError",
    fields={
        name: serializers.ListField(child=serializers.CharField(), required=False)
        for name in [*UpcomingFilter.base_filters.keys(), "page", "page_size"]
    },
)


class UpcomingAnimeSerializer(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()
    title_english = serializers.CharField(allow_blank=True)
    type = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_blank=True, help_text="Not yet aired, or Currently Airing.")
    episodes = serializers.IntegerField(allow_null=True)
    year = serializers.IntegerField(allow_null=True, help_text="The year it starts (or started) airing.")
    season = serializers.CharField(allow_blank=True)
    image_url = serializers.CharField(allow_blank=True)
    url = serializers.CharField(help_text="Detail page.")
    api_url = serializers.CharField()


class UpcomingSeasonSerializer(serializers.Serializer):
    """The group it is listed in: airing now (whenever it started), or the season it starts."""

    airing = serializers.BooleanField(help_text="Airing already, without a score yet.")
    year = serializers.IntegerField(allow_null=True, help_text="Null: airing now, or no date announced.")
    season = serializers.CharField(allow_blank=True, help_text="winter, spring, summer, fall; empty: not announced.")
    label = serializers.CharField()


class UpcomingTierSetSerializer(serializers.Serializer):
    tiers = serializers.ListField(child=serializers.ChoiceField(choices=Tier.choices), help_text="Best first.")
    text = serializers.CharField()
    level = serializers.FloatField(help_text="The share of unseen anime whose true tier such sets held.")


class UpcomingReasonSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    effect = serializers.FloatField()


class UpcomingPredictionSerializer(serializers.Serializer):
    anime = UpcomingAnimeSerializer()
    season = UpcomingSeasonSerializer()
    tier = serializers.ChoiceField(choices=Tier.choices, help_text="The predicted tier.")
    tier_label = serializers.CharField()
    tier_set = UpcomingTierSetSerializer()
    probabilities = serializers.DictField(child=serializers.FloatField())
    predicted_score = serializers.FloatField()
    reasons = UpcomingReasonSerializer(many=True, help_text="Strongest first.")
    run_id = serializers.IntegerField(help_text="The training run (model) that predicted it.")
    computed_at = serializers.DateTimeField()


def prediction_data(p: UpcomingPrediction, request: Request) -> dict[str, Any]:
    anime = p.anime
    return {
        "anime": {
            "mal_id": anime.mal_id,
            "title": anime.title,
            "title_english": anime.title_english,
            "type": anime.type,
            "status": anime.status,
            "episodes": anime.episodes,
            "year": anime.year,
            "season": anime.season,
            "image_url": anime.image_url,
            "url": request.build_absolute_uri(anime.get_absolute_url()),
            "api_url": request.build_absolute_uri(reverse("api-anime-detail", kwargs={"mal_id": anime.mal_id})),
        },
        "season": {"airing": p.airing, "year": p.year, "season": p.season, "label": p.season_label},
        "tier": p.tier,
        "tier_label": Tier(p.tier).label,
        "tier_set": {"tiers": p.tier_set, "text": p.tier_set_text, "level": p.tier_set_level},
        "probabilities": p.probabilities,
        "predicted_score": p.predicted_score,
        "reasons": p.reasons,
        "run_id": p.run_id,
        "computed_at": p.computed_at,
    }


class UpcomingListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="upcoming_list",
        summary="Upcoming anime with their predicted tier and score",
        description="The catalogue's anime not yet aired, or airing without a score yet: those airing first, then by "
        "the season they start, soonest first (a year without its season after that year's seasons, no date last) and the most promising first "
        "within a season, each with the active model's prediction: tier, the 90% tier set, score and reasons. "
        "Filtered like `/api/anime/` (no score filters or sort: they have no score yet; `tier` is the "
        "predicted tier). Empty until the predictions are made (after a training and after each crawl).",
        parameters=PARAMETERS,
        responses={
            200: inline_serializer(
                name="PaginatedUpcomingList",
                fields={
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": UpcomingPredictionSerializer(many=True),
                },
            ),
            400: OpenApiResponse(ERRORS, "Bad parameter values, by field."),
        },
    )
    def get(self, request: Request) -> Response:
        filterset = selectors.upcoming_filter(params=request.query_params, request=request)
        if not filterset.is_valid():
            raise filter_errors(filterset)
        paginator = AnimePagination()
        ids = paginator.paginate_queryset(filterset.predictions().values_list("pk", flat=True), request, view=self)
        rows = selectors.upcoming_page_rows(ids or [])
        return paginator.get_paginated_response([prediction_data(p, request) for p in rows])
