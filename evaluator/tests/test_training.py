from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from catalog.models import Anime
from catalog.tiers import TIER_ORDER, Cutoffs
from evaluator.dataset import dataset_build
from evaluator.models import TrainingRun
from evaluator.services import (
    RetrainInProgress,
    training_run_activate_if_better,
    training_run_claim,
)
from evaluator.tests.conftest import TRAIN_FOLDS, TRAIN_LIMIT
from evaluator.training import (
    CANDIDATES,
    METRIC_KEYS,
    TrainingData,
    choose,
    grouped_splits,
    random_splits,
    score_to_probabilities,
    tier_labels,
)

CUTOFFS = Cutoffs(7.08, 7.47, 7.93)


def _run(macro_f1: float, *, active: bool = False) -> TrainingRun:
    return TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED,
        chosen="logreg",
        artifact="unused.joblib",
        metrics={"grouped": {"macro_f1": macro_f1}, "random": {"macro_f1": macro_f1 + 0.05}},
        is_active=active,
    )


def test_it_records_every_candidate_grouped_and_random(active_run):
    run = active_run
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert set(run.candidates) == set(CANDIDATES)
    for result in run.candidates.values():
        assert set(result["grouped"]) == set(METRIC_KEYS)
        assert set(result["random"]) == set(METRIC_KEYS)
    best = max(
        run.candidates,
        key=lambda n: (run.candidates[n]["grouped"]["macro_f1"], run.candidates[n]["grouped"]["within_one"]),
    )
    assert run.chosen == best
    assert run.metrics["grouped"] == run.candidates[best]["grouped"]
    assert run.n_samples == TRAIN_LIMIT and run.folds == TRAIN_FOLDS
    assert sum(sum(row) for row in run.confusion_matrix) == TRAIN_LIMIT
    assert set(run.per_tier_f1) == {t.value for t in TIER_ORDER}
    assert run.thresholds["scheme"] == "quartiles" and run.thresholds["top_tier"] > run.thresholds["watchable"]
    assert run.embedding.startswith("minilm/") and run.text_variant == "synopsis"
    assert (Path(settings.VAR_DIR) / "models" / run.artifact).is_file()
    # A model that learnt something beats always answering the majority tier.
    assert run.metrics["grouped"]["macro_f1"] > run.baseline["macro_f1"]


def test_it_keeps_a_franchise_on_one_side_of_every_grouped_split(catalog):
    anime = list(Anime.objects.scored().order_by("mal_id").values_list("franchise_key", "score"))
    groups = np.array([key for key, _ in anime])
    scores = np.array([score for _, score in anime])
    data = TrainingData(
        X=np.zeros((len(anime), 1)), y=tier_labels(scores, CUTOFFS), scores=scores, groups=groups,
        mal_ids=np.arange(len(anime)), cutoffs=CUTOFFS,
    )  # fmt: skip
    leaked_random = 0
    for train, test in grouped_splits(data, 5):
        assert not set(groups[train]) & set(groups[test])
    for train, test in random_splits(data, 5):
        leaked_random += len(set(groups[train]) & set(groups[test]))
    # Random splits do put sequels on both sides: that is why they are only shown for comparison.
    assert leaked_random > 100


def test_it_turns_a_score_prediction_into_tier_probabilities():
    probabilities = score_to_probabilities(np.array([8.5, 7.7, 7.25, 6.0]), 0.1, CUTOFFS)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert list(probabilities.argmax(axis=1)) == [0, 1, 2, 3]
    # A wider error spreads the mass: the top tier gets less certain, and the narrow Watchable
    # band (7.08-7.47) loses its middle prediction to its neighbours.
    wider = score_to_probabilities(np.array([8.5, 7.25]), 0.6, CUTOFFS)
    assert wider[1, 2] < probabilities[2, 2]
    assert wider[0, 0] < probabilities[0, 0]


def test_it_chooses_by_grouped_macro_f1_not_random_split():
    class Report:
        def __init__(self, grouped: float, random: float) -> None:
            self.grouped = type("R", (), {"metrics": {"macro_f1": grouped, "within_one": 0.8}})()
            self.random = type("R", (), {"metrics": {"macro_f1": random, "within_one": 0.8}})()

    assert choose({"leaky": Report(0.40, 0.60), "honest": Report(0.45, 0.47)}) == "honest"


def test_it_activates_a_new_run_only_if_its_macro_f1_is_not_below_the_active_one(db):
    TrainingRun.objects.update(is_active=False)
    first = _run(0.42, active=True)
    worse = _run(0.41)
    assert training_run_activate_if_better(run=worse) is False
    first.refresh_from_db()
    worse.refresh_from_db()
    assert first.is_active and not worse.is_active

    equal = _run(0.42)
    assert training_run_activate_if_better(run=equal) is True
    first.refresh_from_db()
    equal.refresh_from_db()
    assert equal.is_active and not first.is_active
    assert TrainingRun.objects.filter(is_active=True).count() == 1


def test_it_activates_the_first_run_when_none_is_active(db):
    TrainingRun.objects.update(is_active=False)
    run = _run(0.10)
    assert training_run_activate_if_better(run=run) is True
    run.refresh_from_db()
    assert run.is_active and run.activated_at is not None


def test_it_refuses_a_second_training_while_one_runs(db):
    first = training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    with pytest.raises(RetrainInProgress, match=f"run {first.pk}"):
        training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    assert TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).count() == 1


def test_it_reclaims_the_slot_from_a_training_abandoned_past_the_time_limit(db):
    from datetime import timedelta

    from django.utils import timezone

    stuck = training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    TrainingRun.objects.filter(pk=stuck.pk).update(started_at=timezone.now() - timedelta(days=1))
    fresh = training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    stuck.refresh_from_db()
    assert stuck.status == TrainingRun.Status.FAILED and "Abandoned" in stuck.error
    assert fresh.status == TrainingRun.Status.RUNNING


def test_it_builds_features_without_popularity_or_outcome_fields(active_run):
    dataset = dataset_build(cutoffs=CUTOFFS, text_variant="synopsis", limit=20)
    names = dataset.spec.tabular_names
    assert dataset.data.X.shape == (20, 384 + len(names))
    forbidden = ("members", "scored_by", "rank", "popularity", "favorites", "score")
    assert not [n for n in names if any(n.split(":")[0] == f for f in forbidden)]
    assert "genre:Action" in names and "type:TV" in names and "source:Manga" in names and "year:linear" in names


def test_it_train_classifier_prints_one_json_object(active_run, capsys):
    call_command(
        "train_classifier", "--json", "--folds", "2", "--limit", "200", "--candidates", "logreg,ridge", "--no-activate"
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"chosen", "grouped", "random", "candidates", "run_id"}
    assert set(out["candidates"]) == {"logreg", "ridge"}
    assert set(out["grouped"]) == set(METRIC_KEYS) and set(out["random"]) == set(METRIC_KEYS)
    run = TrainingRun.objects.get(pk=out["run_id"])
    assert run.n_samples == 200 and run.chosen == out["chosen"] and not run.is_active
    active_run.refresh_from_db()
    assert active_run.is_active  # --no-activate left the active run alone


def test_it_train_classifier_prints_a_table_and_every_confusion_matrix(active_run, capsys):
    call_command("train_classifier", "--folds", "2", "--limit", "200", "--candidates", "ridge,logreg", "--no-activate")
    out = capsys.readouterr().out
    run = TrainingRun.objects.order_by("-pk").first()
    grouped = run.candidates["ridge"]["grouped"]
    assert f"ridge        grouped  {grouped['accuracy']:>10.3f} {grouped['macro_f1']:>10.3f}" in out
    assert "majority     grouped" in out
    assert f"Chosen: {run.chosen} (run {run.pk}, not activated)" in out
    assert out.count("confusion matrix, grouped CV") == 2
    assert "Top-tier    " in out


def test_it_refuses_bad_train_classifier_options(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown candidate"):
        call_command("train_classifier", "--candidates", "forest")
    with pytest.raises(CommandError, match="at least 2"):
        call_command("train_classifier", "--folds", "1")


def test_it_train_classifier_if_none_active_keeps_the_active_run(active_run, capsys):
    from django.core.management import call_command

    from evaluator.models import TrainingRun

    before = TrainingRun.objects.count()
    call_command("train_classifier", "--if-none-active")

    assert f"Model run {active_run.pk}" in capsys.readouterr().out
    assert TrainingRun.objects.count() == before
