"""The visitor's own list and recommendations through the API.

``/api/list/``: GET the list (its counts and entries), POST an export (multipart, field ``file``,
``.xml`` or ``.xml.gz``) to replace it, DELETE to clear it. Whose list: the signed-in user's
(session or token), else the list of the signed-out visitor's existing browser session (a write
then needs the session's CSRF token, like every cookie write: ``animesite.authentication``). The
API never starts a session: a program signs in with a token. There is no address of anyone
else's list. ``/api/recommendations/`` recommends from it, with the browse filters.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api import ANIME_LIST_PARAMETERS
from catalog.lists.parsing import ListFileError
from catalog.lists.recommend import recommend
from catalog.lists.selectors import list_for_request
from catalog.lists.services import NoSession, list_clear, list_import
from catalog.lists.uploads import uploaded_bytes
from catalog.models import ListStatus, TierThresholds
from catalog.serializers import AnimeListSerializer

RECOMMENDATIONS_DEFAULT = 10
RECOMMENDATIONS_MAX = 50


class ListSummarySerializer(serializers.Serializer):
    user_name = serializers.CharField(help_text="The MyAnimeList user name in the export.")
    imported_at = serializers.CharField()
    stored_in = serializers.ChoiceField(choices=["account", "session"])
    expires_at = serializers.CharField(
        allow_null=True, help_text="A signed-out visitor's list is deleted at this time (ISO 8601); null in an account."
    )
    entries = serializers.IntegerField()
    in_catalogue = serializers.IntegerField()
    not_in_catalogue = serializers.IntegerField(help_text="Kept, and matched once the catalogue has them.")
    not_in_catalogue_examples = serializers.ListField(child=serializers.CharField())
    by_status = serializers.DictField(child=serializers.IntegerField())
    scored = serializers.IntegerField()
    mean_score = serializers.FloatField(allow_null=True)


class ListEntrySerializer(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=ListStatus.choices)
    score = serializers.IntegerField(help_text="0 = not scored, else 1-10.")
    watched_episodes = serializers.IntegerField()
    in_catalogue = serializers.BooleanField()


class ListSerializer(serializers.Serializer):
    summary = ListSummarySerializer()
    entries = ListEntrySerializer(many=True)


LIST_ERRORS = inline_serializer(
    name="ListFileErrors", fields={"file": serializers.ListField(child=serializers.CharField())}
)
NO_LIST = inline_serializer(name="NoList", fields={"detail": serializers.CharField()})


def list_data(request: Request) -> dict[str, Any] | None:
    user_list = list_for_request(request)
    if user_list is None:
        return None
    matched = user_list.matched
    return {
        "summary": user_list.summary(),
        "entries": [
            {
                "mal_id": mal_id,
                "title": entry.title,
                "status": entry.status,
                "score": entry.score,
                "watched_episodes": entry.watched_episodes,
                "in_catalogue": mal_id in matched,
            }
            for mal_id, entry in sorted(user_list.entries.items())
        ],
    }


NO_SESSION = (
    "Signed out, a list is kept in the session of a browser visit, and the API never starts one: "
    "sign in (session or token), or import it on /my-list/."
)


class ListView(APIView):
    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]

    @property
    def throttle_scope(self) -> str:
        # Importing parses a file and stores rows: the page's budget (scope list_import) is shared.
        return "list_import" if self.request.method == "POST" else ""

    @extend_schema(
        operation_id="list_read",
        summary="Your imported list",
        responses={200: ListSerializer, 404: OpenApiResponse(NO_LIST, "No list imported.")},
    )
    def get(self, request: Request) -> Response:
        data = list_data(request)
        if data is None:
            return Response({"detail": "No list imported yet: POST your export."}, status=status.HTTP_404_NOT_FOUND)
        return Response(data)

    @extend_schema(
        operation_id="list_import",
        summary="Import (replace) your list from a MyAnimeList export",
        description="Multipart body with `file`: the export (`.xml` or `.xml.gz`) as MyAnimeList makes it. "
        "Malformed XML, DTDs or entities, gzip bombs, files over 5 MB and non-XML files answer 400 "
        "and leave the list as it was.",
        request={
            "multipart/form-data": inline_serializer(
                name="ListUpload", fields={"file": serializers.FileField(help_text="animelist_….xml(.gz)")}
            )
        },
        responses={
            201: ListSerializer,
            400: OpenApiResponse(LIST_ERRORS, "The file cannot be read, and why."),
            403: OpenApiResponse(NO_LIST, "Signed out without a session, or a cookie write without its CSRF token."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            data = uploaded_bytes(request)
            list_import(request=request, data=data, start_session=False)
        except ListFileError as error:
            return Response({"file": [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        except NoSession:
            return Response({"detail": NO_SESSION}, status=status.HTTP_403_FORBIDDEN)
        return Response(list_data(request), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="list_clear",
        summary="Clear your list",
        responses={204: None, 403: OpenApiResponse(NO_LIST, "A cookie write without its CSRF token.")},
    )
    def delete(self, request: Request) -> Response:
        list_clear(request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecommendationsForm(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=RECOMMENDATIONS_MAX, required=False)


class RecommendationSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(help_text="Cosine similarity to your taste vector (0 when degraded).")
    reason = serializers.CharField(help_text='e.g. "Because you rated Mushishi 9 and Natsume Yuujinchou 8".')
    because = serializers.ListField(
        child=inline_serializer(
            name="BecauseYouRated",
            fields={
                "mal_id": serializers.IntegerField(),
                "title": serializers.CharField(),
                "score": serializers.IntegerField(),
            },
        )
    )
    anime = AnimeListSerializer()


class RecommendationsResponseSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    degraded = serializers.BooleanField(help_text="True when the index could not answer: popular anime instead.")
    notice = serializers.CharField()
    liked = serializers.IntegerField(help_text="How many of your entries pulled towards.")
    disliked = serializers.IntegerField(help_text="How many pulled away.")
    results = RecommendationSerializer(many=True)


class RecommendationsView(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "search"

    @extend_schema(
        operation_id="recommendations",
        summary="Recommendations from your list",
        description="Anime not on your list, one per franchise, from what you rated high (and away from what "
        "you rated low or dropped), each with its reason. Takes the browse filters.",
        parameters=[
            OpenApiParameter("limit", int, description=f"1-{RECOMMENDATIONS_MAX}, default {RECOMMENDATIONS_DEFAULT}."),
            *[p for p in ANIME_LIST_PARAMETERS if p.name not in ("sort", "page", "page_size", "list")],
        ],
        responses={
            200: RecommendationsResponseSerializer,
            400: OpenApiResponse(description="Bad parameter values, by field."),
            404: OpenApiResponse(NO_LIST, "No list imported."),
        },
    )
    def get(self, request: Request) -> Response:
        form = RecommendationsForm(data=request.query_params)
        form.is_valid(raise_exception=True)
        filterset = selectors.anime_list(params=request.query_params, request=request)
        if not filterset.is_valid():
            raise ValidationError({name: list(messages) for name, messages in filterset.errors.items()})
        user_list = list_for_request(request)
        if user_list is None:
            return Response({"detail": "No list imported yet: POST your export to /api/list/."}, status=404)
        results = recommend(
            user_list.entries,
            criteria=filterset.criteria(),
            limit=form.validated_data.get("limit") or RECOMMENDATIONS_DEFAULT,
        )
        context = {"request": request, "thresholds": TierThresholds.objects.current()}
        animes = AnimeListSerializer([item.anime for item in results.items], many=True, context=context).data
        return Response(
            {
                "count": len(results.items),
                "degraded": results.degraded,
                "notice": results.notice,
                "liked": results.positives,
                "disliked": results.negatives,
                "results": [
                    {
                        "rank": rank,
                        "score": round(item.score, 6),
                        "reason": item.reason,
                        "because": [{"mal_id": m, "title": t, "score": s} for m, t, s in item.because],
                        "anime": data,
                    }
                    for rank, (item, data) in enumerate(zip(results.items, animes, strict=True), 1)
                ],
            }
        )
