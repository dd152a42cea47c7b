"""Drop-in for the original project's API: its clients (a Streamlit front end, scripts) work by
changing only their base URL to ``<site>/compat``. Thin adapters over the site's own services
(search, evaluator, vocabulary); the response shapes are the original ones, keys included.

JSON for scripts: no session authentication (so no CSRF token), anonymous throttles apply.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Anime, Genre
from catalog.search.forms import MAX_QUERY_LENGTH, SearchForm
from catalog.search.results import SearchHit
from catalog.search.service import search_anime
from catalog.tiers import TIER_ORDER, Tier
from evaluator import services
from evaluator.inputs import EvaluationInputError

SEARCH_LIMIT = 15
# label_id as the original model numbered its classes: 0 = Top-tier ... 3 = Terrible.
LABEL_IDS: dict[str, int] = {str(tier.value): index for index, tier in enumerate(TIER_ORDER)}
LABELS: dict[str, str] = {str(tier.value): str(tier.label) for tier in Tier}


class CompatView(APIView):
    authentication_classes: list = []  # an API for scripts: no session, so no CSRF
    permission_classes = [AllowAny]


# ---------------------------------------------------------------------------- shapes


class CompatStatusSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='Always "good" while the site answers.')


class CompatAnimeSerializer(serializers.Serializer):
    Name = serializers.CharField(help_text="Main (romanised) title.")
    Synopsis = serializers.CharField()
    Genres = serializers.ListField(child=serializers.CharField(), help_text="Genre, theme and demographic names.")
    ID = serializers.IntegerField(help_text="MyAnimeList id.")
    Type = serializers.CharField(help_text='TV, Movie, OVA, ... ("" when unknown).')
    Score = serializers.FloatField(allow_null=True, help_text="MyAnimeList score, null when unscored.")
    Episode = serializers.IntegerField(allow_null=True, help_text="Number of episodes, null when unknown.")
    Aired = serializers.CharField(allow_null=True, help_text='e.g. "Apr 2009 - Jul 2010"; null when unknown.')
    Matching_score = serializers.FloatField(help_text="Relevance to the query (higher is better).")


class CompatEvaluateRequestSerializer(serializers.Serializer):
    synopsis = serializers.CharField(help_text="30-5,000 characters.")
    genres = serializers.ListField(child=serializers.CharField(), help_text="Names from /compat/anime/genres.")


class CompatEvaluateResponseSerializer(serializers.Serializer):
    label_id = serializers.IntegerField(min_value=0, max_value=3, help_text="0 = Top-tier ... 3 = Terrible.")
    label = serializers.ChoiceField(choices=[str(t.label) for t in TIER_ORDER])
    confidence = serializers.FloatField(help_text="Probability of the predicted label (0-1).")
    comment = serializers.CharField(help_text="The explanation so far (offline explainer; Gemini's when ready).")


class CompatGenresSerializer(serializers.Serializer):
    genres = serializers.ListField(child=serializers.CharField(), help_text="Sorted names.")


FIELD_ERRORS = inline_serializer(
    name="CompatError",
    fields={
        "detail": serializers.CharField(required=False),
        "q": serializers.ListField(child=serializers.CharField(), required=False),
        "synopsis": serializers.ListField(child=serializers.CharField(), required=False),
        "genres": serializers.ListField(child=serializers.CharField(), required=False),
    },
)
DETAIL = inline_serializer(name="CompatDetail", fields={"detail": serializers.CharField()})


# ---------------------------------------------------------------------------- adapters


def aired_display(start: date | None, end: date | None, *, airing: bool = False) -> str | None:
    """ "Apr 2009 - Jul 2010"; one month when it started and ended in the same month (a film)."""
    if start is None:
        return None
    first = start.strftime("%b %Y")
    if end is None:
        return f"{first} - ?" if airing else first
    last = end.strftime("%b %Y")
    return first if last == first else f"{first} - {last}"


def anime_compat(anime: Anime, matching_score: float) -> dict[str, Any]:
    return {
        "Name": anime.title,
        "Synopsis": anime.synopsis,
        "Genres": [g.name for g in anime.genres.all()],
        "ID": anime.mal_id,
        "Type": anime.type,
        "Score": float(anime.score) if anime.score is not None else None,
        "Episode": anime.episodes,
        "Aired": aired_display(anime.aired_from, anime.aired_to, airing="airing" in anime.status.lower()),
        "Matching_score": round(float(matching_score), 6),
    }


def hit_compat(hit: SearchHit) -> dict[str, Any]:
    return anime_compat(hit.anime, hit.score)


# ---------------------------------------------------------------------------- views


class StatusView(CompatView):
    @extend_schema(tags=["compat"], summary="Liveness (original API)", responses={200: CompatStatusSerializer})
    def get(self, request: Request) -> Response:
        return Response({"status": "good"})


class SearchView(CompatView):
    throttle_scope = "search"

    @extend_schema(
        tags=["compat"],
        summary="Search anime (original API)",
        description=f"The site's hybrid search (title or plot), top {SEARCH_LIMIT}, one per franchise. When the "
        "search index is unreachable the database's keyword search answers.",
        parameters=[OpenApiParameter("q", str, required=True, description=f"1-{MAX_QUERY_LENGTH:,} characters.")],
        responses={200: CompatAnimeSerializer(many=True), 400: OpenApiResponse(FIELD_ERRORS, "Missing or bad `q`.")},
    )
    def get(self, request: Request) -> Response:
        # The site's one search form validates `q`; only the wording is the original API's.
        form = SearchForm({"q": request.query_params.get("q", "")})
        if not form.is_valid():
            code = form.errors.as_data()["q"][0].code
            query = form.data["q"].strip()
            message = {"max_length": f"Must be at most {MAX_QUERY_LENGTH:,} characters (got {len(query):,})."}.get(
                code, "This parameter is required."
            )
            return Response({"q": [message]}, status=status.HTTP_400_BAD_REQUEST)
        results = search_anime(form.cleaned_data["q"], limit=SEARCH_LIMIT)
        return Response([hit_compat(hit) for hit in results.hits])


class EvaluateView(CompatView):
    throttle_scope = "evaluate"

    @extend_schema(
        tags=["compat"],
        summary="Evaluate a synopsis (original API)",
        description="The site's evaluator (active model) with the original response shape.",
        request=CompatEvaluateRequestSerializer,
        responses={
            200: CompatEvaluateResponseSerializer,
            400: OpenApiResponse(FIELD_ERRORS, "Bad input: each bad field with its messages."),
            503: OpenApiResponse(DETAIL, "No trained model is active yet."),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, QueryDict):
            data = {**data.dict(), "genres": data.getlist("genres")}
        if not isinstance(data, dict):
            return Response({"detail": "Send a JSON object."}, status=status.HTTP_400_BAD_REQUEST)
        errors: dict[str, list[str]] = {}
        if "synopsis" not in data:
            errors["synopsis"] = ["This field is required."]
        if "genres" not in data:
            errors["genres"] = ["This field is required (a list of genre names, possibly empty)."]
        elif not isinstance(data["genres"], list):
            errors["genres"] = ["Must be a list of genre names."]
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        try:
            result = services.evaluation_create(data={"synopsis": data["synopsis"], "genres": data["genres"]})
        except EvaluationInputError as error:
            return Response(error.errors, status=status.HTTP_400_BAD_REQUEST)
        except services.ModelUnavailable as error:
            return Response({"detail": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        evaluation = result.evaluation
        return Response(
            {
                "label_id": LABEL_IDS[evaluation.tier],
                "label": LABELS[evaluation.tier],
                "confidence": round(float(evaluation.probabilities.get(evaluation.tier, 0.0)), 6),
                "comment": evaluation.comment,
            }
        )


class GenresView(CompatView):
    @extend_schema(
        tags=["compat"],
        summary="Genre names (original API)",
        description="Every genre, theme and demographic name the evaluator accepts, sorted.",
        responses={200: CompatGenresSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"genres": sorted(Genre.objects.values_list("name", flat=True))})
