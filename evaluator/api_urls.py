from __future__ import annotations

from django.urls import path

from evaluator import api
from evaluator.upcoming import api as upcoming_api

urlpatterns = [
    path("evaluate/", api.EvaluateView.as_view(), name="api-evaluate"),
    path("evaluations/<uuid:pk>/", api.EvaluationDetailView.as_view(), name="api-evaluation-detail"),
    path("upcoming/", upcoming_api.UpcomingListView.as_view(), name="api-upcoming"),
    path("model/", api.ModelReportView.as_view(), name="api-model"),
    path("admin/retrain/", api.RetrainView.as_view(), name="staff-retrain"),
]
