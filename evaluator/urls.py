from __future__ import annotations

from django.urls import path

from evaluator import views
from evaluator.upcoming import views as upcoming_views

app_name = "evaluator"
urlpatterns = [
    path("evaluate/", views.evaluate, name="evaluate"),
    path("evaluate/sequel-of/", views.sequel_suggestions, name="sequel-suggestions"),
    path("evaluate/<uuid:pk>/", views.evaluation_result, name="result"),
    path("evaluate/<uuid:pk>/comment/", views.evaluation_comment, name="comment"),
    path("upcoming/", upcoming_views.upcoming, name="upcoming"),
    path("upcoming/promising/", upcoming_views.upcoming_promising, name="upcoming-promising"),
    path("model/", views.model_report, name="model"),
    path("model/runs/<int:run_id>/<slug:name>.png", views.model_chart, name="chart"),
]
