from __future__ import annotations

from django.apps import AppConfig


class EvaluatorConfig(AppConfig):
    name = "evaluator"
    verbose_name = "Evaluator"
    default_auto_field = "django.db.models.BigAutoField"
