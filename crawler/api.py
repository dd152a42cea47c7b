"""The crawler's staff API: ``POST /api/admin/crawl/`` starts the crawl beat runs weekly."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from crawler.services import SPIDERS, crawl_start
from jobs.api import DENIED, StaffAction


class CrawlRequestSerializer(serializers.Serializer):
    spider = serializers.ChoiceField(choices=SPIDERS, default="jikan")
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
        "the task skip (single flight). Without a broker the crawl runs in a thread of the web process.",
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
            **DENIED,
        },
    )
    def post(self, request: Request) -> Response:
        form = CrawlRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        spider, stale_days = form.validated_data["spider"], form.validated_data["stale_days"]
        crawl_start(spider=spider, stale_days=stale_days)
        return Response(
            {"detail": f"Queued a {spider} crawl.", "spider": spider, "stale_days": stale_days},
            status=status.HTTP_202_ACCEPTED,
        )
