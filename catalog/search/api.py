"""Search API: ``GET /api/search/`` and ``GET /api/anime/<mal_id>/similar/``.

Same parameters as the page (and the browse filters); bad values answer 400 with the field's
name and the valid values; an unreachable index degrades to the database keyword search (`degraded`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api import ANIME_LIST_PARAMETERS, anime_not_found_message
from catalog.converters import MAX_MAL_ID
from catalog.lists.selectors import LIST_MODES
from catalog.models import TierThresholds
from catalog.search.forms import (
    FILTER_NAMES,
    IGNORABLE,
    MAX_LIMIT,
    MAX_QUERY_LENGTH,
    MODES,
    SimilarForm,
    search_request_parse,
)
from catalog.search.freshness import TASK_BATCH, anime_index_enqueue
from catalog.search.results import SearchHit
from catalog.search.service import search_requested, similar_anime
from catalog.search.understanding import QueryPlan
from catalog.serializers import AnimeListSerializer
from jobs.api import DENIED, StaffAction

SIMILAR_LIMIT = 12


class RelatedSerializer(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    type = serializers.CharField()


class ReasonSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=("title", "keywords", "meaning", "cue", "assist"),
        help_text="What matched: the title, words of the plot, the meaning of the description, a cue "
        "read from the query (a type, studio, era or episode count), or Gemini named it (only with a key).",
    )
    label = serializers.CharField(help_text='What to show, e.g. "Studio Ghibli", "shrine, spirits".')


class CueSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=("type", "studio", "years", "episodes"))
    label = serializers.CharField()


class UnderstoodSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The plot words searched (hedges, filler and cue words taken out).")
    clues = serializers.ListField(
        child=serializers.CharField(), help_text="A long description's clauses, each also searched on its own."
    )
    preferences = CueSerializer(many=True, help_text="Soft cues: they raise matching anime, never filter.")
    filters = serializers.DictField(
        help_text="Explicit constraints read from the words (type, year_min, year_max), applied as filters; "
        "drop one with `ignore=<name>`."
    )
    excluded = serializers.ListField(
        child=serializers.CharField(), help_text='What followed "not": the titles named there are left out.'
    )
    assisted = serializers.ListField(
        child=serializers.ChoiceField(choices=("clues", "rerank")),
        help_text="What Gemini did for a long description, when the site has a Gemini key: wrote the clues, "
        "reordered the top candidates (empty without it).",
    )


class SearchHitSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 for the best match.")
    score = serializers.FloatField(help_text="Fused relevance (reciprocal-rank fusion; only the order matters).")
    title_match = serializers.BooleanField(help_text="The query names one of this anime's titles.")
    snippet = serializers.CharField(help_text="The synopsis sentence closest to the query (plain text).")
    related = RelatedSerializer(many=True, help_text="Other anime of the same franchise folded into this hit.")
    why = ReasonSerializer(many=True, help_text="Why this anime is here.")
    anime = AnimeListSerializer()


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.ChoiceField(choices=MODES)
    fold = serializers.BooleanField()
    count = serializers.IntegerField()
    degraded = serializers.BooleanField(
        help_text="True when the search index could not answer and the database's keyword search did."
    )
    notice = serializers.CharField(help_text="Why the results are degraded (empty when they are not).")
    index_building = serializers.IntegerField(
        allow_null=True,
        help_text="While the first search index is being built: how far it is, in percent (else null).",
    )
    understood = UnderstoodSerializer(
        allow_null=True, help_text="How the query was read (null with `literal=1`, or when nothing was read)."
    )
    results = SearchHitSerializer(many=True)


SEARCH_ERRORS = inline_serializer(
    name="SearchError",
    fields={
        name: serializers.ListField(child=serializers.CharField(), required=False)
        for name in ("q", "mode", "limit", "fold", "literal", "ignore", *FILTER_NAMES)
    },
)
SEARCH_PARAMETERS = [
    OpenApiParameter(
        "q",
        str,
        required=True,
        description=f"A title or a description of the plot (1-{MAX_QUERY_LENGTH:,} characters).",
    ),
    OpenApiParameter(
        "mode",
        str,
        enum=list(MODES),
        description="Ranking: `hybrid` (default), `dense` (embeddings only) or `sparse` (keywords only).",
    ),
    OpenApiParameter("limit", int, description=f"Number of results (1-{MAX_LIMIT}, default 10)."),
    OpenApiParameter(
        "fold",
        OpenApiTypes.BOOL,
        description="One result per franchise, the others listed in `related` (default true).",
    ),
    OpenApiParameter(
        "literal",
        OpenApiTypes.BOOL,
        description="Search the words as typed: no hedges or cue words taken out, no filters read from them "
        "(default false).",
    ),
    OpenApiParameter(
        "ignore",
        str,
        many=True,
        enum=list(IGNORABLE),
        description="Drop a filter read from the query's words (repeatable), e.g. `ignore=type`.",
    ),
    OpenApiParameter(
        "genre",
        str,
        many=True,
        description="Genre, theme or demographic name; repeatable, all must match (see /api/genres/).",
    ),
    OpenApiParameter("exclude_genre", str, many=True, description="Hide anime with any of these names; repeatable."),
    *[p for p in ANIME_LIST_PARAMETERS if p.name not in ("sort", "page", "page_size")],
]


def understood_data(plan: QueryPlan | None) -> dict[str, Any] | None:
    if plan is None or not plan.understood:
        return None
    return {
        "text": plan.text,
        "clues": plan.clues,
        "preferences": [{"kind": c.kind, "label": c.label} for c in plan.preferences],
        "filters": plan.filters,
        "excluded": plan.excluded,
        "assisted": plan.assisted,
    }


def hits_data(hits: list[SearchHit], context: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's results: one serializer for every hit's anime (its fields are built once)."""
    animes = AnimeListSerializer([hit.anime for hit in hits], many=True, context=context).data
    return [
        {
            "rank": rank,
            "score": round(hit.score, 6),
            "title_match": hit.title_match,
            "snippet": hit.snippet,
            "related": [{"mal_id": a.mal_id, "title": a.title, "year": a.year, "type": a.type} for a in hit.related],
            "why": [{"kind": r.kind, "label": r.label} for r in hit.reasons],
            "anime": anime,
        }
        for rank, (hit, anime) in enumerate(zip(hits, animes, strict=True), 1)
    ]


class SearchView(APIView):
    # Embedding a query costs CPU: a tighter rate than the API default (SEARCH_THROTTLE_RATE).
    throttle_scope = "search"

    @extend_schema(
        summary="Search anime by title or plot",
        description=(
            "Hybrid search (embeddings + BM25 keywords, reciprocal-rank fusion) over the catalogue. "
            "A query naming a title ranks that anime first. The browse filters apply inside the "
            "index, so `limit` results come back whenever that many match. When the index cannot "
            "answer (not built yet, Qdrant unreachable) the database's keyword search answers with "
            "`degraded: true` and a `notice`."
        ),
        parameters=SEARCH_PARAMETERS,
        responses={
            200: SearchResponseSerializer,
            400: OpenApiResponse(SEARCH_ERRORS, "Bad parameter values, by parameter name."),
        },
    )
    def get(self, request: Request) -> Response:
        parse = search_request_parse(request.query_params, with_filterset=False, request=request)
        if parse.request is None:
            raise ValidationError(parse.errors)
        parsed = parse.request
        results = search_requested(parsed)
        context = {"request": request, "thresholds": TierThresholds.objects.current()}
        return Response(
            {
                "query": results.query,
                "mode": results.mode,
                "fold": results.fold,
                "count": len(results.hits),
                "degraded": results.degraded,
                "notice": results.notice,
                "index_building": results.index_building,
                "understood": understood_data(results.plan),
                "results": hits_data(results.hits, context),
            }
        )


class SimilarResponseSerializer(serializers.Serializer):
    mal_id = serializers.IntegerField()
    count = serializers.IntegerField()
    degraded = serializers.BooleanField(
        help_text="True when the search index could not answer: popular anime sharing the most genres instead."
    )
    results = inline_serializer(
        name="SimilarHit",
        fields={"rank": serializers.IntegerField(), "score": serializers.FloatField(), "anime": AnimeListSerializer()},
        many=True,
    )


class SimilarView(APIView):
    @extend_schema(
        summary="Anime similar to this one",
        description="The nearest anime by synopsis embedding, outside this anime's own franchise, one per franchise.",
        parameters=[
            OpenApiParameter("mal_id", int, OpenApiParameter.PATH, description="MyAnimeList id."),
            OpenApiParameter("limit", int, description=f"Number of results (1-{MAX_LIMIT}, default {SIMILAR_LIMIT})."),
            OpenApiParameter(
                "list",
                str,
                enum=list(LIST_MODES),
                description="With an imported list: `hide` its anime, `unseen` hides those seen, "
                "`plan-to-watch` keeps only those planned.",
            ),
        ],
        responses={
            200: SimilarResponseSerializer,
            400: OpenApiResponse(SEARCH_ERRORS, "Bad `limit`."),
            404: OpenApiResponse(inline_serializer(name="SimilarNotFound", fields={"detail": serializers.CharField()})),
        },
    )
    def get(self, request: Request, mal_id: int) -> Response:
        anime = selectors.anime_get(mal_id=mal_id)
        if anime is None:
            raise NotFound(anime_not_found_message(mal_id))
        form = SimilarForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        similar = similar_anime(
            anime, limit=form.cleaned_data["limit"] or SIMILAR_LIMIT, criteria=form.criteria(request)
        )
        hits, degraded = similar.hits, similar.degraded
        context = {"request": request, "thresholds": TierThresholds.objects.current()}
        animes = AnimeListSerializer([hit.anime for hit in hits], many=True, context=context).data
        return Response(
            {
                "mal_id": anime.mal_id,
                "count": len(hits),
                "degraded": degraded,
                "results": [
                    {"rank": rank, "score": round(hit.score, 6), "anime": data}
                    for rank, (hit, data) in enumerate(zip(hits, animes, strict=True), 1)
                ],
            }
        )


# ---------------------------------------------------------------------------- staff

MAX_REINDEX_IDS = 10_000


class ReindexRequestSerializer(serializers.Serializer):
    mal_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_MAL_ID),  # the column's range
        required=False,
        allow_empty=False,
        max_length=MAX_REINDEX_IDS,
        help_text="MyAnimeList ids to (re-)index; omit to re-index the whole catalogue.",
    )


class ReindexResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    anime = serializers.IntegerField(help_text="How many anime were sent to the index task.")
    batches = serializers.IntegerField(help_text="How many index tasks were queued.")


class ReindexView(StaffAction):
    @extend_schema(
        summary="Re-index anime in search (staff)",
        description="Queues `catalog.tasks.anime_index_batch` for the given ids (or every anime) in batches "
        f"of {TASK_BATCH}. Idempotent: unchanged anime are skipped; ids no longer in the catalogue "
        "are removed from the index.",
        request=ReindexRequestSerializer,
        responses={
            202: ReindexResponseSerializer,
            400: OpenApiResponse(
                inline_serializer(
                    # "detail" when Django refuses the body itself (too many fields: animesite/errors.py).
                    name="ReindexError",
                    fields={
                        "mal_ids": serializers.ListField(child=serializers.CharField(), required=False),
                        "detail": serializers.CharField(required=False),
                    },
                )
            ),
            **DENIED,
        },
    )
    def post(self, request: Request) -> Response:
        form = ReindexRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ids = form.validated_data.get("mal_ids")
        if ids is None:
            ids = selectors.anime_ids()
        ids = sorted(set(ids))
        batches = anime_index_enqueue(ids)
        return Response(
            {"detail": f"Queued {len(ids)} anime in {batches} batch(es).", "anime": len(ids), "batches": batches},
            status=status.HTTP_202_ACCEPTED,
        )
