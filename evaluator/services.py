"""Writes of the evaluator: training runs (claim, train, activate) and evaluations (validate,
predict, comment). Pages, API, commands, admin actions and tasks all call these."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Anime, TierThresholds
from evaluator.comment import CommentError, Evidence, Neighbour, comment_backend, gemini_comment, offline_comment
from evaluator.dataset import dataset_build
from evaluator.features import (
    DEFAULT_FEATURE_GROUPS,
    DEFAULT_TEXT_VARIANT,
    FEATURE_GROUPS,
    TEXT_VARIANTS,
    AnimeInput,
)
from evaluator.inputs import evaluation_input_clean
from evaluator.models import CommentStatus, Evaluation, TrainingRun
from evaluator.predictor import ArtifactUnreadable, Predictor, artifact_usable, predictor_for
from evaluator.selectors import training_run_running
from evaluator.training import BASELINES, INNER_FOLDS, SELECTION_KEYS, TrainingOutcome, calibration_bins, train
from evaluator.upcoming.services import upcoming_refresh_dispatch
from jobs.owners import owner_gone, owner_token
from jobs.services import task_dispatch

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- input


class ModelUnavailable(Exception):
    """No trained model is active yet."""


def model_unavailable_reason() -> str:
    """Why there is no model to evaluate with, and what happens next."""
    if training_run_running() is not None:
        return (
            "The model is being trained right now (the first training takes a few minutes): evaluations "
            "open as soon as it is done. Meanwhile you can browse and search the catalogue."
        )
    return "No trained model is active yet: run `python manage.py train_classifier`."


def input_hash(item: AnimeInput) -> str:
    """The same input after normalisation (whitespace, genre order, case) hashes the same."""
    normal = {**item.as_dict(), "synopsis": " ".join(item.synopsis.split())}
    return hashlib.sha256(json.dumps(normal, sort_keys=True).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class EvaluationResult:
    evaluation: Evaluation
    created: bool


def _neighbours(pairs: Sequence[tuple[int, float]]) -> list[dict[str, object]]:
    rows = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=[m for m, _ in pairs])}
    out = []
    for mal_id, similarity in pairs:
        anime = rows.get(mal_id)
        if anime is None:  # deleted since training
            continue
        out.append(
            {
                "mal_id": mal_id,
                "title": anime.display_title,
                "score": anime.score,
                "tier": anime.tier,
                "year": anime.year,
                "type": anime.type,
                "image_url": anime.image_url,
                "similarity": similarity,
            }
        )
    return out


def evidence_of(evaluation: Evaluation) -> Evidence:
    return Evidence(
        tier=evaluation.tier,
        probabilities=evaluation.probabilities,
        predicted_score=evaluation.predicted_score,
        neighbours=[
            Neighbour(
                mal_id=n["mal_id"], title=n["title"], score=n["score"], tier=n["tier"], similarity=n["similarity"]
            )
            for n in evaluation.neighbours
        ],
        genre_effects=evaluation.genre_effects,
        tier_set=list(evaluation.tier_set),
        set_level=evaluation.tier_set_level or 0.0,
        reasons=list(evaluation.reasons),
    )


def evaluation_create(*, data: Mapping[str, object], titles: bool = False) -> EvaluationResult:
    """Validate, predict with the active run, store with the offline comment, and (Gemini
    backend) queue the Gemini comment. The same input under the same run returns the stored
    evaluation. ``titles``: the page's "sequel of" may be a title (``evaluation_input_clean``)."""
    item = evaluation_input_clean(data, titles=titles)
    run = TrainingRun.objects.active()
    if run is None:
        raise ModelUnavailable(model_unavailable_reason())
    key = input_hash(item)
    existing = Evaluation.objects.filter(run=run, input_hash=key).first()
    if existing is not None:
        return EvaluationResult(existing, created=False)

    try:
        predictor = predictor_for(run.pk, run.artifact)
    except ArtifactUnreadable as exc:
        # The active run's artifact is missing or unreadable (a copied database without var/,
        # a half-written file, a model trained by an older version): say so instead of failing.
        logger.error("active model run %s cannot be loaded from %s: %s", run.pk, run.artifact, exc)
        raise ModelUnavailable(
            f"The active model (run {run.pk}) cannot be loaded: retrain it with `python manage.py train_classifier`."
        ) from exc
    prediction = predictor.predict(item)
    gemini = comment_backend() == "gemini"
    evaluation = Evaluation(
        run=run,
        input_hash=key,
        synopsis=item.synopsis,
        genres=list(item.genres),
        type=item.type,
        source=item.source,
        episodes=item.episodes,
        year=item.year,
        studios=list(item.studios),
        rating=item.rating,
        duration=item.duration,
        season=item.season,
        sequel_of_id=item.follows[0] if item.follows else None,
        tier=prediction.tier,
        probabilities=prediction.probabilities,
        predicted_score=prediction.predicted_score,
        neighbours=_neighbours(prediction.neighbours),
        genre_effects=prediction.genre_effects,
        tier_set=prediction.tier_set,
        tier_set_level=prediction.set_level,
        reasons=[r.as_dict() for r in prediction.reasons],
        comment_source="offline",
        comment_status=CommentStatus.PENDING if gemini else CommentStatus.FINAL,
    )
    evaluation.comment = offline_comment(evidence_of(evaluation))
    try:
        with transaction.atomic():
            evaluation.save(force_insert=True)
    except IntegrityError:
        # Another request stored the same input under the same run first.
        return EvaluationResult(Evaluation.objects.get(run=run, input_hash=key), created=False)
    if gemini:
        pk = str(evaluation.pk)
        transaction.on_commit(lambda: comment_dispatch(pk))
    return EvaluationResult(evaluation, created=True)


def comment_dispatch(evaluation_id: str) -> None:
    """Hand the Gemini comment to a worker (without a broker: a thread of this process, so the
    page never waits for Gemini; with one whose broker is down: recorded and sent later, while the
    offline comment stays)."""
    task_dispatch("evaluator.tasks.evaluation_comment", evaluation_id)


def evaluation_comment_refresh(*, evaluation_id: str) -> bool:
    """Replace the offline comment by Gemini's. Any failure keeps the offline comment (logged);
    either way the comment becomes final. Returns whether Gemini's comment was stored."""
    evaluation = Evaluation.objects.filter(pk=evaluation_id).first()
    if evaluation is None or evaluation.comment_status != CommentStatus.PENDING:
        return False
    try:
        text = gemini_comment(evidence_of(evaluation))
    except CommentError as error:
        logger.warning("Gemini comment failed for evaluation %s, keeping the offline one: %s", evaluation_id, error)
        Evaluation.objects.filter(pk=evaluation_id, comment_status=CommentStatus.PENDING).update(
            comment_status=CommentStatus.FINAL
        )
        return False
    updated = Evaluation.objects.filter(pk=evaluation_id, comment_status=CommentStatus.PENDING).update(
        comment=text, comment_source="gemini", comment_status=CommentStatus.FINAL
    )
    return bool(updated)


# ---------------------------------------------------------------------------- training


class RetrainInProgress(Exception):
    """A training run is already running (single flight)."""


def training_run_claim(*, triggered_by: str = TrainingRun.Trigger.COMMAND) -> TrainingRun:
    """Claim the single training slot by inserting the one allowed ``running`` row (a unique
    constraint makes the database the referee). A run stuck past the task time limit (its worker
    died) is marked failed first so it cannot block retraining forever."""
    stale_before = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, started_at__lt=stale_before).update(
        status=TrainingRun.Status.FAILED,
        error="Abandoned: still running after the task time limit.",
        finished_at=timezone.now(),
    )
    for running in TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exclude(owner=""):
        if owner_gone(running.owner):
            TrainingRun.objects.filter(pk=running.pk, status=TrainingRun.Status.RUNNING).update(
                status=TrainingRun.Status.FAILED, error="Abandoned: its process is gone.", finished_at=timezone.now()
            )
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, triggered_by=triggered_by)
    except IntegrityError:
        running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).first()
        since = f" (run {running.pk}, started {running.started_at:%Y-%m-%d %H:%M} UTC)" if running else ""
        raise RetrainInProgress(f"A training run is already in progress{since}; try again when it finishes.") from None


def training_run_execute(
    *,
    run: TrainingRun,
    folds: int = 5,
    candidates: Sequence[str] | None = None,
    text_variant: str = DEFAULT_TEXT_VARIANT,
    limit: int | None = None,
    features: Sequence[str] = DEFAULT_FEATURE_GROUPS,
    activate: bool = True,
    progress: Callable[[str], None] | None = None,
) -> TrainingRun:
    """Train into a claimed run: build the data set, cross-validate the candidates, refit the
    chosen one, save its artifact, record everything, and activate it when the rule allows."""
    if text_variant not in TEXT_VARIANTS:
        raise ValueError(f"unknown text variant {text_variant!r}; known: {', '.join(TEXT_VARIANTS)}")
    # The process that trains owns the run from here: if it dies, the next claim takes over.
    run.owner = owner_token()
    TrainingRun.objects.filter(pk=run.pk).update(owner=run.owner)
    started = time.perf_counter()
    try:
        thresholds = TierThresholds.objects.current()
        if thresholds is None:
            raise RuntimeError("No tier thresholds yet: import the catalogue first.")
        cutoffs = thresholds.cutoffs
        dataset = dataset_build(cutoffs=cutoffs, text_variant=text_variant, limit=limit, groups=tuple(features))
        if progress:
            progress(
                f"{len(dataset.inputs)} scored anime, {dataset.data.X.shape[1]} features ({dataset.spec.embedding})"
            )
        phases = {"dataset": round(time.perf_counter() - started, 2)}
        outcome = train(
            dataset.data,
            folds=folds,
            candidates=candidates,
            jobs=settings.EVALUATOR_TRAIN_JOBS,
            progress=progress,
        )
        saving = time.perf_counter()
        predictor = Predictor(
            spec=dataset.spec,
            model=outcome.model,
            cutoffs=cutoffs,
            catalogue_ids=dataset.data.mal_ids,
            catalogue_embeddings=dataset.embeddings,
        )
        run.artifact = predictor.save(f"run-{run.pk}.joblib")
        run_record_outcome(run, outcome, y=dataset.data.y)
        run.n_samples = len(dataset.inputs)
        run.n_franchises = len(set(dataset.data.groups.tolist()))
        run.n_features = int(dataset.data.X.shape[1] + len(outcome.model.encoder.names))
        run.folds = folds
        run.thresholds = {
            "scheme": thresholds.scheme,
            "watchable": cutoffs.watchable,
            "worthwhile": cutoffs.worthwhile,
            "top_tier": cutoffs.top_tier,
        }
        run.embedding = dataset.spec.embedding
        run.text_variant = text_variant
        run.phases = {**phases, **outcome.phases, "save": round(time.perf_counter() - saving, 2)}
        run.status = TrainingRun.Status.SUCCEEDED
    except Exception as error:
        run.status = TrainingRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
        run.finished_at = timezone.now()
        run.duration_seconds = round(time.perf_counter() - started, 2)
        run.save()
        raise
    run.finished_at = timezone.now()
    run.duration_seconds = round(time.perf_counter() - started, 2)
    run.phases["total"] = run.duration_seconds
    run.save()
    if activate:
        training_run_activate_if_better(run=run)
        run.refresh_from_db()
    return run


def run_record_outcome(run: TrainingRun, outcome: TrainingOutcome, *, y: np.ndarray) -> None:
    """Copy a training's figures into its run: every model under every test design, the chosen
    model's, the baselines', the tier sets' coverage, the selection and the charts' data."""
    grouped = outcome.designs["grouped"]
    models = [*outcome.families, "selected"]

    def figures(name: str) -> dict[str, object]:
        return {design: d.metrics[name] for design, d in outcome.designs.items()}

    run.candidates = {
        name: {
            **figures(name),
            "confusion_matrix": grouped.confusion[name],
            "per_tier_f1": grouped.per_tier_f1[name],
        }
        for name in outcome.families
    }
    run.chosen = outcome.chosen
    run.params = outcome.model.describe()
    run.metrics = figures("selected")
    run.baseline = grouped.metrics["majority"]
    run.confusion_matrix = grouped.confusion["selected"]
    run.per_tier_f1 = grouped.per_tier_f1["selected"]
    run.designs = {
        design: {
            **d.extra,
            "anime": len(d.rows),
            "metrics": {name: d.metrics[name] for name in [*models, *BASELINES]},
            "sets": {name: d.sets[name] for name in models},
            "confusion_matrix": d.confusion["selected"],
        }
        for design, d in outcome.designs.items()
    }
    run.groups = {design: d.groups for design, d in outcome.designs.items() if d.groups}
    run.selection = {
        "criterion": "mean of accuracy, macro-F1, within-one accuracy and Spearman on the out-of-fold "
        f"predictions of a franchise-grouped {INNER_FOLDS}-fold CV inside each split's training rows",
        "deployed": run.params,
        "splits": {design: d.chosen for design, d in outcome.designs.items()},
    }
    probabilities = grouped.probabilities["selected"]
    order = np.argsort(grouped.rows)
    run.calibration = {
        **calibration_bins(probabilities, y[grouped.rows]),
        # For the report's score histogram: what the model predicts for anime it never saw.
        "predicted_scores": [round(float(v), 3) for v in grouped.scores["selected"][order]],
    }


def feature_ablation(
    *,
    folds: int = 5,
    text_variant: str = DEFAULT_TEXT_VARIANT,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, object]]:
    """The chosen model (nested selection) on the grouped CV and the time split with every
    optional feature group, then with each one left out. A group is kept when leaving it out
    lowers the selection criterion on the time split (the question users ask: a new anime; the
    franchise history cannot help grouped CV, whose held-out franchises have none). Records
    nothing."""
    thresholds = TierThresholds.objects.current()
    if thresholds is None:
        raise RuntimeError("No tier thresholds yet: import the catalogue first.")
    variants = [("all", None, FEATURE_GROUPS)] + [
        (f"without {group}", group, tuple(g for g in FEATURE_GROUPS if g != group)) for group in FEATURE_GROUPS
    ]
    rows: list[dict[str, object]] = []
    for name, left_out, groups in variants:
        dataset = dataset_build(cutoffs=thresholds.cutoffs, text_variant=text_variant, limit=limit, groups=groups)
        outcome = train(
            dataset.data, folds=folds, designs=("grouped", "time"), final=False, jobs=settings.EVALUATOR_TRAIN_JOBS
        )
        row: dict[str, object] = {"name": name, "left_out": left_out, "groups": list(groups)}
        for design in ("grouped", "time"):
            metrics = dict(outcome.designs[design].metrics["selected"])
            metrics["criterion"] = round(sum(metrics[k] for k in SELECTION_KEYS) / len(SELECTION_KEYS), 4)
            row[design] = metrics
        if left_out:
            full = rows[0]
            row["keep"] = row["time"]["criterion"] < full["time"]["criterion"]
        rows.append(row)
        if progress:
            progress(
                f"{name}: criterion grouped {row['grouped']['criterion']:.4f}, time {row['time']['criterion']:.4f}"
            )
    return rows


def training_run_activate(*, run: TrainingRun) -> TrainingRun:
    """Make ``run`` the one active run (staff's choice; no metric rule)."""
    if run.status != TrainingRun.Status.SUCCEEDED or not run.artifact:
        raise ValueError(f"Run {run.pk} has no trained model to activate.")
    with transaction.atomic():
        TrainingRun.objects.select_for_update().filter(is_active=True).exclude(pk=run.pk).update(is_active=False)
        TrainingRun.objects.filter(pk=run.pk).update(is_active=True, activated_at=timezone.now())
        # The upcoming anime's predictions follow the model in force (once this is committed).
        transaction.on_commit(upcoming_refresh_dispatch)
    run.refresh_from_db()
    return run


def training_run_activate_if_better(*, run: TrainingRun) -> bool:
    """The automatic rule: a new run becomes active only if its grouped macro-F1 is not below
    the active run's, or nothing usable is active (none, or one whose model file this version
    cannot load: one trained on other feature columns would otherwise keep the evaluator down
    after an upgrade)."""
    with transaction.atomic():
        active = TrainingRun.objects.select_for_update().filter(is_active=True).first()
        if active is not None and active.pk != run.pk and artifact_usable(active.artifact):
            if (run.macro_f1 or 0.0) < (active.macro_f1 or 0.0):
                logger.info(
                    "Run %s not activated: grouped macro-F1 %.4f < active run %s's %.4f",
                    run.pk,
                    run.macro_f1 or 0.0,
                    active.pk,
                    active.macro_f1 or 0.0,
                )
                return False
        training_run_activate(run=run)
    return True


def training_run_start(*, triggered_by: str) -> TrainingRun:
    """Start a retraining in the background: claim the single training slot, and once the claim
    is committed hand ``evaluator.tasks.retrain`` to a worker (without a broker: a thread of this
    process). The admin, the staff API and beat all start it here. Raises ``RetrainInProgress``."""
    run = training_run_claim(triggered_by=triggered_by)
    transaction.on_commit(lambda: task_dispatch("evaluator.tasks.retrain", run.pk))
    return run


def training_run_train(*, triggered_by: str = TrainingRun.Trigger.COMMAND, **options: object) -> TrainingRun:
    """Claim the slot and train (raises ``RetrainInProgress`` when another training runs)."""
    run = training_run_claim(triggered_by=triggered_by)
    return training_run_execute(run=run, **options)  # type: ignore[arg-type]
