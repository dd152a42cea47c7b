"""The evaluate API: POST an anime description, GET a stored evaluation.

Validation is the service's (same rule as the page and the command): bad input answers 400
with the field's name; no active model answers 503. Throttled per client (scope "evaluate").
"""

from __future__ import annotations

from django.http import QueryDict
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from animesite.throttling import ScopedRateThrottle
from evaluator import services
from evaluator.inputs import EvaluateInputSerializer, EvaluationInputError
from evaluator.models import TrainingRun
from evaluator.selectors import evaluation_get, run_summary
from evaluator.serializers import EvaluationSerializer, ModelReportSerializer, evaluation_data
from jobs.api import DENIED, DETAIL, StaffAction

ERRORS = inline_serializer(
    name="EvaluateErrors",
    fields={
        name: serializers.ListField(child=serializers.CharField(), required=False)
        for name in ("synopsis", "genres", "sequel_of")
    },
)


class EvaluateView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "evaluate"

    @extend_schema(
        operation_id="evaluate_anime",
        summary="Evaluate an anime from its synopsis and genres",
        request=EvaluateInputSerializer,
        responses={
            201: EvaluationSerializer,
            200: OpenApiResponse(
                EvaluationSerializer, description="The same input was evaluated before by this model."
            ),
            400: OpenApiResponse(ERRORS, description="Bad input: each bad field with its messages."),
            429: OpenApiResponse(description="Too many requests from this client."),
            503: OpenApiResponse(description="No trained model is active yet."),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, QueryDict):  # a form-encoded body: genres may repeat
            data = {**data.dict(), "genres": data.getlist("genres")}
        if not isinstance(data, dict):
            return Response({"non_field_errors": ["Send a JSON object."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            result = services.evaluation_create(data=data)
        except EvaluationInputError as error:
            return Response(error.errors, status=status.HTTP_400_BAD_REQUEST)
        except services.ModelUnavailable as error:
            return Response({"detail": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(
            evaluation_data(result.evaluation, request),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class EvaluationDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="evaluation_detail",
        summary="A stored evaluation with its comment so far",
        responses={200: EvaluationSerializer, 404: OpenApiResponse(description="No such evaluation.")},
    )
    def get(self, request: Request, pk: str) -> Response:
        evaluation = evaluation_get(pk)
        if evaluation is None:
            raise NotFound("No such evaluation.")
        return Response(evaluation_data(evaluation, request))


class ModelReportView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="model_report",
        summary="How good the active model is",
        description="The active training run's figures: the chosen model (nested selection), every candidate "
        "and the baselines under franchise-grouped CV, the time split and a random split; the coverage and "
        "mean size of the 90% tier sets; how the choice was made; the time of each training phase.",
        responses={200: ModelReportSerializer, 503: OpenApiResponse(DETAIL, "No trained model is active yet.")},
    )
    def get(self, request: Request) -> Response:
        run = TrainingRun.objects.active()
        if run is None:
            return Response({"detail": services.model_unavailable_reason()}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(run_summary(run))


# ---------------------------------------------------------------------------- staff


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
        try:
            run = services.training_run_start(triggered_by=TrainingRun.Trigger.ADMIN)
        except services.RetrainInProgress as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {"detail": f"Retraining started as run {run.pk}.", "run": run.pk}, status=status.HTTP_202_ACCEPTED
        )
