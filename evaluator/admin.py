"""The model registry in the Django admin: runs with their metrics, activate, retrain."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from evaluator import services
from evaluator.models import Evaluation, TrainingRun


def _metric(run: TrainingRun, key: str) -> str:
    value = run.grouped(key)
    return f"{value:.3f}" if value is not None else "–"


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/evaluator/trainingrun/change_list.html"
    list_display = (
        "id", "started_at", "status", "triggered_by", "chosen", "grouped_accuracy", "grouped_macro_f1",
        "grouped_within_one", "grouped_spearman", "n_samples", "is_active",
    )  # fmt: skip
    list_filter = ("status", "is_active", "triggered_by", "chosen")
    ordering = ("-started_at", "-id")
    actions = ("activate_run", "retrain")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]

    @admin.display(description="accuracy (grouped)")
    def grouped_accuracy(self, run: TrainingRun) -> str:
        return _metric(run, "accuracy")

    @admin.display(description="macro-F1 (grouped)")
    def grouped_macro_f1(self, run: TrainingRun) -> str:
        return _metric(run, "macro_f1")

    @admin.display(description="within one (grouped)")
    def grouped_within_one(self, run: TrainingRun) -> str:
        return _metric(run, "within_one")

    @admin.display(description="Spearman (grouped)")
    def grouped_spearman(self, run: TrainingRun) -> str:
        return _metric(run, "spearman")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Activate the selected run (evaluate will use it)", permissions=["change"])
    def activate_run(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one run to activate.", messages.ERROR)
            return
        run = queryset.get()
        try:
            services.training_run_activate(run=run)
        except ValueError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"Run {run.pk} ({run.chosen}) is now active.", messages.SUCCESS)

    @admin.action(description="Retrain now (a new run; the selection is ignored)", permissions=["change"])
    def retrain(self, request: HttpRequest, queryset: QuerySet[TrainingRun] | None = None) -> None:
        retrain_start(self, request)

    def get_urls(self) -> list:
        urls = super().get_urls()
        view = require_POST(self.admin_site.admin_view(self.retrain_view))
        return [path("retrain/", view, name="evaluator_trainingrun_retrain"), *urls]

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            self.message_user(request, "You may not retrain the model.", messages.ERROR)
        else:
            retrain_start(self, request)
        return HttpResponseRedirect(reverse("admin:evaluator_trainingrun_changelist"))


def retrain_start(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    """Claim the training slot now (so a second request is refused at once) and queue the task."""
    try:
        run = services.training_run_start(triggered_by=TrainingRun.Trigger.ADMIN)
    except services.RetrainInProgress as refused:
        model_admin.message_user(request, str(refused), messages.WARNING)
        return
    model_admin.message_user(
        request, f"Retraining started as run {run.pk}; it appears here when it finishes.", messages.SUCCESS
    )


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "run", "tier", "predicted_score", "comment_source", "comment_status")
    list_filter = ("tier", "comment_source", "comment_status")
    search_fields = ("synopsis",)
    readonly_fields = [f.name for f in Evaluation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
