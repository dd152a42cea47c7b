"""The evaluator's registry (one ``TrainingRun`` per training) and stored evaluations."""

from __future__ import annotations

import uuid

from django.db import models
from django.urls import reverse

from catalog.models import Anime
from catalog.tiers import Tier


def tier_set_text(tier_set: list[str]) -> str:
    """ "Worthwhile or Top-tier" (best last, as people say it)."""
    labels = [Tier(t).label for t in reversed(tier_set)]
    if not labels:
        return ""
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


class TrainingRunQuerySet(models.QuerySet):
    def active(self) -> TrainingRun | None:
        return self.filter(is_active=True).first()

    def finished(self) -> TrainingRunQuerySet:
        return self.filter(status=TrainingRun.Status.SUCCEEDED)


class TrainingRun(models.Model):
    """One training of the tier classifier: its data, candidates, metrics and artifact."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        COMMAND = "command", "Management command"
        ADMIN = "admin", "Admin action"
        SCHEDULE = "schedule", "Celery beat"
        TEST = "test", "Test"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    triggered_by = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.COMMAND)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    owner = models.CharField(max_length=255, blank=True, help_text="The training process (host:pid).")

    n_samples = models.PositiveIntegerField(default=0, help_text="Scored anime used for training.")
    n_franchises = models.PositiveIntegerField(default=0)
    n_features = models.PositiveIntegerField(default=0)
    folds = models.PositiveSmallIntegerField(default=5)
    thresholds = models.JSONField(default=dict, blank=True, help_text="Tier cut-offs in force when trained.")
    embedding = models.CharField(max_length=128, blank=True, help_text="Embedding backend/model/dimension.")
    text_variant = models.CharField(max_length=32, blank=True, help_text="Which text was embedded.")

    candidates = models.JSONField(default=dict, blank=True, help_text="Every candidate's grouped/random metrics.")
    chosen = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="The chosen model's grouped/random metrics.")
    baseline = models.JSONField(default=dict, blank=True, help_text="Majority-class baseline, grouped CV.")
    confusion_matrix = models.JSONField(default=list, blank=True, help_text="Rows: true tier, columns: predicted.")
    per_tier_f1 = models.JSONField(default=dict, blank=True)
    calibration = models.JSONField(default=dict, blank=True, help_text="Reliability-curve bins (grouped CV).")
    designs = models.JSONField(
        default=dict,
        blank=True,
        help_text="Every model's figures under each test design (grouped CV, time split, random split), "
        "its tier-set coverage per level, and the design's facts (folds, cut year).",
    )
    selection = models.JSONField(
        default=dict, blank=True, help_text="How the nested selection chose: the criterion and each split's winners."
    )
    groups = models.JSONField(
        default=dict,
        blank=True,
        help_text="Figures by group of held-out anime per design (time split: sequels, new franchises; "
        "all designs: the popular slice), with the baselines and, for sequels, the prequel's tier.",
    )
    phases = models.JSONField(default=dict, blank=True, help_text="Seconds spent in each phase of the training.")
    artifact = models.CharField(max_length=255, blank=True, help_text="File under VAR_DIR/models.")
    duration_seconds = models.FloatField(null=True, blank=True)

    is_active = models.BooleanField(default=False, db_index=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ("-started_at", "-id")
        get_latest_by = ("started_at", "id")
        constraints = [
            # At most one active run, and at most one running training (the single-flight claim).
            models.UniqueConstraint(
                fields=("is_active",), condition=models.Q(is_active=True), name="evaluator_one_active_run"
            ),
            models.UniqueConstraint(
                fields=("status",), condition=models.Q(status="running"), name="evaluator_one_running_run"
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.chosen or self.get_status_display()})"

    def grouped(self, key: str) -> float | None:
        value = (self.metrics.get("grouped") or {}).get(key)
        return float(value) if value is not None else None

    @property
    def macro_f1(self) -> float | None:
        return self.grouped("macro_f1")


class CommentStatus(models.TextChoices):
    PENDING = "pending", "Waiting for Gemini"
    FINAL = "final", "Final"


class Evaluation(models.Model):
    """One evaluated input under one model run. The same normalised input under the same run
    is answered from here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="evaluations")
    input_hash = models.CharField(max_length=64)

    synopsis = models.TextField()
    genres = models.JSONField(default=list)
    type = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=64, blank=True)
    episodes = models.PositiveIntegerField(null=True, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)

    tier = models.CharField(max_length=16, choices=Tier.choices)
    probabilities = models.JSONField(default=dict, help_text="Tier value -> probability.")
    predicted_score = models.FloatField()
    neighbours = models.JSONField(default=list)
    genre_effects = models.JSONField(default=dict, help_text="Given genre -> its effect on the predicted score.")
    studios = models.JSONField(default=list, blank=True)
    rating = models.CharField(max_length=64, blank=True)
    duration = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Minutes per episode.")
    season = models.CharField(max_length=16, blank=True)
    sequel_of = models.ForeignKey(
        Anime,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text='The catalogue anime it directly follows (the input\'s "sequel of").',
    )
    tier_set = models.JSONField(
        default=list, blank=True, help_text="Tier values, best first: the conformal set at tier_set_level."
    )
    tier_set_level = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(
        default=list, blank=True, help_text="The inputs that moved the predicted score most, with their effects."
    )

    comment = models.TextField(blank=True)
    comment_source = models.CharField(max_length=16, default="offline")
    comment_status = models.CharField(max_length=16, choices=CommentStatus.choices, default=CommentStatus.FINAL)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [models.UniqueConstraint(fields=("run", "input_hash"), name="evaluator_one_result_per_input")]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} ({self.tier})"

    def get_absolute_url(self) -> str:
        return reverse("evaluator:result", kwargs={"pk": self.pk})

    @property
    def top_probability(self) -> float:
        return max(self.probabilities.values()) if self.probabilities else 0.0

    @property
    def tier_set_labels(self) -> list[str]:
        return [Tier(t).label for t in self.tier_set]

    @property
    def tier_set_text(self) -> str:
        return tier_set_text(self.tier_set)

    @property
    def reasons_up(self) -> list[dict[str, object]]:
        return [r for r in self.reasons if r["effect"] >= 0.005][:4]

    @property
    def reasons_down(self) -> list[dict[str, object]]:
        return [r for r in self.reasons if r["effect"] <= -0.005][:4]

    @property
    def comment_final(self) -> bool:
        return self.comment_status == CommentStatus.FINAL


# Seasons in airing order; an unknown season sorts after the year's known ones, an unknown year last.
SEASON_ORDER = ("winter", "spring", "summer", "fall")
UNKNOWN_SEASON = len(SEASON_ORDER)
UNKNOWN_YEAR = 9999


# Anime already airing (without a score yet) come first, as one group: some started years ago.
AIRING_NOW = 0


def season_key(year: int | None, season: str, *, airing: bool = False) -> int:
    """One sortable number per (year, season): airing now 0, 2026 winter 20260, 2026 fall 20263,
    2026 with no season 20264, no year 99994."""
    if airing:
        return AIRING_NOW
    rank = SEASON_ORDER.index(season) if season in SEASON_ORDER else UNKNOWN_SEASON
    return (year or UNKNOWN_YEAR) * 10 + rank


class UpcomingPredictionQuerySet(models.QuerySet):
    def of_run(self, run: TrainingRun | None) -> UpcomingPredictionQuerySet:
        return self.filter(run=run) if run is not None else self.none()

    def without_adult(self) -> UpcomingPredictionQuerySet:
        return self.exclude(anime_id__in=Anime.objects.filter(adult=True).values("mal_id"))

    def soonest_first(self) -> UpcomingPredictionQuerySet:
        return self.order_by("season_key", models.F("predicted_score").desc(), "anime_id")


class UpcomingPrediction(models.Model):
    """What the active model predicts for one catalogue anime that has no score yet (not yet aired,
    or airing without a score). Written by ``evaluator.upcoming.services.upcoming_refresh``; the
    upcoming pages and API only read this table."""

    anime = models.ForeignKey(Anime, on_delete=models.CASCADE, related_name="upcoming_predictions")
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="upcoming_predictions")
    season_key = models.PositiveIntegerField(
        db_index=True, help_text="0: airing now; else year*10 + season (0-3; 4: not known)."
    )
    tier = models.CharField(max_length=16, choices=Tier.choices)
    tier_set = models.JSONField(default=list, help_text="Tier values, best first: the conformal set at tier_set_level.")
    tier_set_level = models.FloatField()
    probabilities = models.JSONField(default=dict, help_text="Tier value -> probability.")
    predicted_score = models.FloatField()
    reasons = models.JSONField(default=list, help_text="The inputs that moved the predicted score most.")
    computed_at = models.DateTimeField()

    objects = UpcomingPredictionQuerySet.as_manager()

    class Meta:
        ordering = ("season_key", "-predicted_score", "anime_id")
        constraints = [models.UniqueConstraint(fields=("run", "anime"), name="evaluator_upcoming_once_per_run")]
        indexes = [models.Index(fields=("run", "season_key", "predicted_score"), name="evaluator_upcoming_order")]

    def __str__(self) -> str:
        return f"{self.anime_id}: {self.tier} ({self.predicted_score:.2f}, run {self.run_id})"

    @property
    def airing(self) -> bool:
        return self.season_key == AIRING_NOW

    @property
    def year(self) -> int | None:
        year = self.season_key // 10
        return None if year in (UNKNOWN_YEAR, AIRING_NOW) else year

    @property
    def season(self) -> str:
        rank = self.season_key % 10
        return SEASON_ORDER[rank] if rank < UNKNOWN_SEASON else ""

    @property
    def season_label(self) -> str:
        """ "Airing now, no score yet", "Winter 2027", "2027 (season not announced)", "Date not announced"."""
        if self.airing:
            return "Airing now, no score yet"
        if self.year is None:
            return "Date not announced"
        return f"{self.season.capitalize()} {self.year}" if self.season else f"{self.year} (season not announced)"

    @property
    def tier_set_text(self) -> str:
        return tier_set_text(self.tier_set)

    @property
    def reasons_up(self) -> list[dict[str, object]]:
        return [r for r in self.reasons if r["effect"] >= 0.005][:3]

    @property
    def reasons_down(self) -> list[dict[str, object]]:
        return [r for r in self.reasons if r["effect"] <= -0.005][:3]
