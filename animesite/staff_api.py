"""Staff-only API actions: re-index search, retrain the evaluator, start a crawl.

Staff scripts authenticate with ``Authorization: Token <key>`` (or a staff session); anyone else
gets 401/403. Each action queues the same Celery task the admin and beat use; without a broker
(development) the task runs inline, except the crawl, which takes hours.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Anime
from jobs.services import task_enqueue

REINDEX_BATCH = 100
MAX_REINDEX_IDS = 10_000

DETAIL = inline_serializer(name="StaffActionDetail", fields={"detail": serializers.CharField()})
DENIED = {
    401: OpenApiResponse(DETAIL, "No or a bad token."),
    403: OpenApiResponse(DETAIL, "Signed in, but not staff."),
}


class StaffAction(APIView):
    # Token first: a script without (or with a bad) token gets 401 and a WWW-Authenticate
    # challenge; a signed-in user who is not staff gets 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]


class ReindexRequestSerializer(serializers.Serializer):
    mal_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
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
        f"of {REINDEX_BATCH}. Idempotent: unchanged anime are skipped; ids no longer in the catalogue "
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
        from catalog.tasks import anime_index_batch

        form = ReindexRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ids = form.validated_data.get("mal_ids")
        if ids is None:
            ids = list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))
        ids = sorted(set(ids))
        batches = [ids[start : start + REINDEX_BATCH] for start in range(0, len(ids), REINDEX_BATCH)]
        for batch in batches:
            task_enqueue(anime_index_batch, batch)
        return Response(
            {
                "detail": f"Queued {len(ids)} anime in {len(batches)} batch(es).",
                "anime": len(ids),
                "batches": len(batches),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class RetrainResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    run = serializers.IntegerField(help_text="The training run claimed for this retraining.")


class RetrainView(StaffAction):
    @extend_schema(
        summary="Retrain the evaluator (staff)",
        description="Claims the single training slot and queues `evaluator.tasks.retrain`. While another "
        "training runs the request is refused with 409 and the reason.",
        request=None,
        responses={202: RetrainResponseSerializer, 409: OpenApiResponse(DETAIL, "A training is running."), **DENIED},
    )
    def post(self, request: Request) -> Response:
        from evaluator.models import TrainingRun
        from evaluator.services import RetrainInProgress, training_run_claim
        from evaluator.tasks import retrain

        try:
            run = training_run_claim(triggered_by=TrainingRun.Trigger.ADMIN)
        except RetrainInProgress as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        transaction.on_commit(lambda: task_enqueue(retrain, run.pk))
        return Response(
            {"detail": f"Retraining started as run {run.pk}.", "run": run.pk}, status=status.HTTP_202_ACCEPTED
        )


class CrawlRequestSerializer(serializers.Serializer):
    spider = serializers.ChoiceField(choices=("jikan", "mal"), default="jikan")
    stale_days = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        default=7,
        help_text="Refresh only anime fetched more than this many days ago (null: every anime).",
    )


class CrawlView(StaffAction):
    @extend_schema(
        summary="Start a crawl (staff)",
        description="Queues `crawler.tasks.crawl_refresh` (the weekly crawl). A crawl already running makes "
        "the task skip (single flight). Needs a Celery worker: without a broker it answers 503.",
        request=CrawlRequestSerializer,
        responses={
            202: inline_serializer(
                name="CrawlQueued",
                fields={
                    "detail": serializers.CharField(),
                    "spider": serializers.CharField(),
                    "stale_days": serializers.IntegerField(allow_null=True),
                },
            ),
            400: OpenApiResponse(
                inline_serializer(
                    name="CrawlError",
                    fields={
                        name: serializers.ListField(child=serializers.CharField(), required=False)
                        for name in ("spider", "stale_days")
                    }
                    | {"detail": serializers.CharField(required=False)},
                )
            ),
            503: OpenApiResponse(DETAIL, "No Celery broker configured."),
            **DENIED,
        },
    )
    def post(self, request: Request) -> Response:
        from crawler.tasks import crawl_refresh

        form = CrawlRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        spider, stale_days = form.validated_data["spider"], form.validated_data["stale_days"]
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # Inline, a crawl would hold this request for hours.
            return Response(
                {"detail": "No Celery broker is configured: run `manage.py crawl` on the server instead."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        task_enqueue(crawl_refresh, spider=spider, stale_days=stale_days)
        return Response(
            {"detail": f"Queued a {spider} crawl.", "spider": spider, "stale_days": stale_days},
            status=status.HTTP_202_ACCEPTED,
        )
