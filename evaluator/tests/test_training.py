from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from catalog.models import Anime
from catalog.tiers import TIER_ORDER, Cutoffs
from evaluator import services
from evaluator.dataset import dataset_build
from evaluator.features import FEATURE_GROUPS
from evaluator.models import TrainingRun
from evaluator.predictor import artifact_usable
from evaluator.services import (
    RetrainInProgress,
    training_run_activate_if_better,
    training_run_claim,
)
from evaluator.tests.conftest import TRAIN_FOLDS, TRAIN_LIMIT
from evaluator.training import (
    BASELINES,
    FAMILIES,
    METRIC_KEYS,
    Grid,
    TrainingData,
    conformal_scores,
    conformal_threshold,
    grouped_splits,
    random_splits,
    score_to_probabilities,
    split_run,
    tier_labels,
    tier_sets,
    time_split,
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


def test_it_records_every_model_under_every_test_design(active_run):
    run = active_run
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert set(run.candidates) == set(FAMILIES)
    assert set(run.designs) == {"grouped", "time", "random"}
    for design in run.designs.values():
        assert set(design["metrics"]) == {*FAMILIES, "selected", *BASELINES}
        for metrics in design["metrics"].values():
            assert set(metrics) == set(METRIC_KEYS)
        for sets in design["sets"].values():
            assert 0.0 < sets["0.9"]["coverage"] <= 1.0 and 1.0 <= sets["0.9"]["mean_size"] <= 4.0
    time_design = run.designs["time"]
    assert time_design["train"] + time_design["test"] == TRAIN_LIMIT == run.n_samples
    # The chosen model's published figures are the nested procedure's, per design.
    assert run.metrics == {d: run.designs[d]["metrics"]["selected"] for d in ("grouped", "time", "random")}
    assert run.chosen in FAMILIES and run.params["family"] == run.chosen
    assert "inside each split's training rows" in run.selection["criterion"]
    assert len(run.selection["splits"]["grouped"]) == TRAIN_FOLDS
    assert run.folds == TRAIN_FOLDS
    assert sum(sum(row) for row in run.confusion_matrix) == TRAIN_LIMIT
    assert set(run.per_tier_f1) == {t.value for t in TIER_ORDER}
    assert run.thresholds["scheme"] == "quartiles" and run.thresholds["top_tier"] > run.thresholds["watchable"]
    assert run.embedding.startswith("minilm/") and run.text_variant == "synopsis"
    assert (Path(settings.VAR_DIR) / "models" / run.artifact).is_file()
    assert {"dataset", "nested_fits", "total"} <= set(run.phases)
    # A model that learnt something beats always answering the majority tier.
    assert run.metrics["grouped"]["macro_f1"] > run.baseline["macro_f1"]


def _synthetic(n: int = 240, seed: int = 1) -> TrainingData:
    """Scores that follow two informative columns, in franchises of two, with years."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    scores = 7.4 + 0.5 * X[:, 0] - 0.3 * X[:, 1] + rng.normal(scale=0.2, size=n)
    return TrainingData(
        X=X, y=tier_labels(scores, CUTOFFS), scores=scores, groups=np.array([f"f{i // 2}" for i in range(n)]),
        mal_ids=np.arange(n), cutoffs=CUTOFFS, embedding_dims=2, years=np.array([1990 + i // 8 for i in range(n)]),
        genre_columns=np.array([2, 3]),
    )  # fmt: skip


SMALL_GRID = Grid(embedding_weight=(0.5,), C=(0.01, 1.0), alpha=(1.0, 100.0), mix=(0.5,), far=(0.0, 1.0))


def test_its_nested_selection_never_looks_at_the_held_out_labels():
    data = _synthetic()
    train, test = np.arange(0, 180), np.arange(180, 240)
    honest = split_run(data, train, test, grid=SMALL_GRID, families=FAMILIES, levels=(0.9,))
    # Scramble the held-out rows' labels and scores: nothing chosen or predicted may change.
    rng = np.random.default_rng(7)
    scrambled = TrainingData(**{**data.__dict__})
    scrambled.y, scrambled.scores = data.y.copy(), data.scores.copy()
    scrambled.scores[test] = rng.permutation(data.scores[test]) + 1.0
    scrambled.y[test] = (data.y[test] + 1) % 4
    again = split_run(scrambled, train, test, grid=SMALL_GRID, families=FAMILIES, levels=(0.9,))
    assert honest.chosen == again.chosen
    for name in (*FAMILIES, "selected"):
        assert np.allclose(honest.outputs[name][0], again.outputs[name][0])
        assert np.array_equal(honest.sets[name][0.9][0], again.sets[name][0.9][0])
    # The informative columns were learnt: the chosen model ranks the held-out scores well.
    assert np.corrcoef(honest.outputs["selected"][1], data.scores[test])[0, 1] > 0.8


def test_it_cuts_the_time_split_at_the_latest_year_that_leaves_enough_test_anime():
    data = _synthetic()
    cut, train, test = time_split(data, minimum=40)
    assert (data.years[train] < cut).all() and (data.years[test] >= cut).all()
    assert len(test) >= 40 and len(test[data.years[test] > cut]) < 40
    assert len(train) + len(test) == len(data.y)


def test_its_tier_sets_are_contiguous_and_keep_their_promised_coverage():
    rng = np.random.default_rng(3)
    # Perfectly calibrated probabilities of a score model: the true score is the predicted one
    # plus the error the probabilities assume.
    predicted = rng.uniform(6.0, 8.8, size=6000)
    probabilities = score_to_probabilities(predicted, 0.3, CUTOFFS)
    y = tier_labels(predicted + rng.normal(scale=0.3, size=6000), CUTOFFS)
    calibration, held_out = slice(0, 3000), slice(3000, 6000)
    for level in (0.8, 0.9):
        threshold = conformal_threshold(conformal_scores(probabilities[calibration], y[calibration]), level)
        low, high = tier_sets(probabilities[held_out], threshold)
        covered = ((low <= y[held_out]) & (y[held_out] <= high)).mean()
        assert level - 0.02 <= covered <= level + 0.03
        assert (low <= high).all() and 1.0 < (high - low + 1).mean() < 3.0
    # A gap is filled: tiers 0 and 2 likely, tier 1 not, gives the run 0-2.
    low, high = tier_sets(np.array([[0.45, 0.05, 0.45, 0.05]]), 0.8)
    assert (low[0], high[0]) == (0, 2)
    # A confident row gets one tier.
    low, high = tier_sets(np.array([[0.02, 0.95, 0.02, 0.01]]), 0.8)
    assert (low[0], high[0]) == (1, 1)


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


def test_it_activates_a_new_run_only_if_its_macro_f1_is_not_below_the_active_one(db, monkeypatch):
    monkeypatch.setattr(services, "artifact_usable", lambda name: True)
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


def test_it_replaces_an_active_run_whose_model_this_version_cannot_load(db):
    # An upgrade that changes the feature columns leaves the active run's file unreadable (the
    # predictor refuses it): a new run replaces it even with a lower macro-F1.
    TrainingRun.objects.update(is_active=False)
    stale = _run(0.60, active=True)
    assert not artifact_usable(stale.artifact)
    newer = _run(0.45)
    assert training_run_activate_if_better(run=newer) is True
    stale.refresh_from_db()
    newer.refresh_from_db()
    assert newer.is_active and not stale.is_active


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
    dataset = dataset_build(cutoffs=CUTOFFS, text_variant="synopsis", limit=60, groups=FEATURE_GROUPS)
    names = dataset.spec.tabular_names
    assert dataset.data.X.shape == (60, 384 + len(names))
    forbidden = ("members", "scored_by", "rank", "popularity", "favorites", "score")
    assert not [n for n in names if any(n.split(":")[0] == f for f in forbidden)]
    assert "genre:Action" in names and "type:TV" in names and "source:Manga" in names and "year:linear" in names
    assert "duration:log" in names and any(n.startswith("rating:PG-13") for n in names)
    # Changing every popularity field of every anime changes no feature at all.
    before = dataset.data.X.copy()
    Anime.objects.update(members=1, scored_by=1, rank=1, popularity=99999, favorites=0)
    after = dataset_build(cutoffs=CUTOFFS, text_variant="synopsis", limit=60, groups=FEATURE_GROUPS)
    assert np.array_equal(before, after.data.X)
    assert np.array_equal(dataset.data.records.when, after.data.records.when)


def test_its_studio_record_uses_only_earlier_anime_of_other_franchises():
    from evaluator.records import RecordEncoder, RecordRows

    rows = RecordRows(
        studios=[("A",), ("A",), ("A",), ("A", "B"), ("B",)],
        when=np.array([2000.0, 2001.0, 2002.0, 2003.0, 2004.0]),
        groups=np.array(["x", "y", "y", "z", "w"]),
        embeddings=np.eye(5, dtype=np.float32),
    )
    scores = np.array([9.0, 5.0, 6.0, 7.0, 8.0])
    encoder = RecordEncoder(["studio"]).fit(rows, scores)
    record = encoder.transform(rows)
    prior = scores.mean()
    assert record[0].tolist() == [0.0, 0.0, 1.0]  # nothing earlier
    # Anime 2 (franchise y): its own franchise's anime 1 never counts, only anime 0.
    assert record[2, 0] == pytest.approx((9.0 - prior) / (1 + 5.0)) and record[2, 1] == pytest.approx(np.log1p(1))
    # Anime 3: studios A and B, earlier anime 0, 1, 2 (B has nothing earlier); the later 4 never counts.
    assert record[3, 0] == pytest.approx((9.0 + 5.0 + 6.0 - 3 * prior) / (3 + 5.0))
    summary = encoder.studio_record(("A",))
    assert summary.count == 4 and summary.mean_score == pytest.approx(np.mean([9.0, 5.0, 6.0, 7.0]), abs=0.01)


def test_it_train_classifier_prints_one_json_object(active_run, capsys):
    call_command(
        "train_classifier", "--json", "--folds", "2", "--limit", "200", "--candidates", "logreg,ridge", "--no-activate"
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"chosen", "grouped", "time", "random", "candidates", "baselines", "tier_sets", "phases"}
    assert set(out["candidates"]) == {"logreg", "ridge"}
    assert set(out["baselines"]) == set(BASELINES)
    for design in ("grouped", "time", "random"):
        assert set(out[design]) == set(METRIC_KEYS)
        assert set(out["baselines"]["majority"][design]) == set(METRIC_KEYS)
        assert set(out["candidates"]["ridge"][design]) == set(METRIC_KEYS)
    assert out["time_split"]["train"] + out["time_split"]["test"] == 200
    assert 0 < out["tier_sets"]["time"]["coverage"] <= 1 and out["tier_sets"]["level"] == 0.9
    assert out["phases"]["total"] > 0 and "nested_fits" in out["phases"]
    run = TrainingRun.objects.get(pk=out["run_id"])
    assert run.n_samples == 200 and run.chosen == out["chosen"] and not run.is_active
    active_run.refresh_from_db()
    assert active_run.is_active  # --no-activate left the active run alone


def test_it_train_classifier_prints_a_table_per_design(active_run, capsys):
    call_command("train_classifier", "--folds", "2", "--limit", "200", "--candidates", "ridge,logreg", "--no-activate")
    out = capsys.readouterr().out
    run = TrainingRun.objects.order_by("-pk").first()
    timed = run.designs["time"]["metrics"]["ridge"]
    assert f"ridge          time     {timed['accuracy']:>10.3f} {timed['macro_f1']:>10.3f}" in out
    assert "majority       grouped" in out and "seed-logreg    time" in out
    assert (
        f"Time split: trained on {run.designs['time']['train']} anime before {run.designs['time']['cut_year']}" in out
    )
    assert f"Chosen: {run.chosen} (run {run.pk}, not activated)" in out
    assert "Phases: dataset" in out and "Top-tier    " in out
    sequels = run.groups["time"]["sequel"]
    prequel = sequels["metrics"]["prequel-tier"]
    assert "By group, time:" in out
    assert (
        f"{'Sequels (an earlier entry is known)':<38} {sequels['count']:>5} {'The prequel' + chr(39) + 's tier':<26} "
        f"{prequel['accuracy']:>10.3f}" in out
    )


def test_it_measures_each_optional_feature_group(active_run, capsys):
    call_command("train_classifier", "--ablation", "--json", "--folds", "2", "--limit", "150")
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["all", *[f"without {g}" for g in FEATURE_GROUPS]]
    for row in rows[1:]:
        assert row["left_out"] not in row["groups"]
        # Kept on the time split's word alone: the franchise history cannot help grouped CV.
        assert row["keep"] == (row["time"]["criterion"] < rows[0]["time"]["criterion"])


def test_it_refuses_bad_train_classifier_options(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown candidate"):
        call_command("train_classifier", "--candidates", "forest")
    with pytest.raises(CommandError, match="unknown feature group"):
        call_command("train_classifier", "--features", "popularity")
    with pytest.raises(CommandError, match="at least 2"):
        call_command("train_classifier", "--folds", "1")


def test_it_train_classifier_if_none_active_keeps_the_active_run(active_run, capsys):
    from django.core.management import call_command

    from evaluator.models import TrainingRun

    before = TrainingRun.objects.count()
    call_command("train_classifier", "--if-none-active")

    assert f"Model run {active_run.pk}" in capsys.readouterr().out
    assert TrainingRun.objects.count() == before


def test_it_reports_sequels_and_new_franchises_on_the_time_split(active_run):
    from catalog.models import AnimeRelation
    from evaluator.selectors import run_group_rows

    groups = active_run.groups["time"]
    test_count = active_run.designs["time"]["test"]
    assert groups["all"]["count"] == test_count
    assert groups["sequel"]["count"] + groups["new"]["count"] == test_count
    assert groups["sequel"]["count"] > 0 and groups["new"]["count"] > 0
    assert set(groups["sequel"]["metrics"]) == {"selected", *BASELINES, "prequel-tier"}
    assert "prequel-tier" not in groups["new"]["metrics"]
    assert set(groups["all"]["sets"]["selected"]) == {"coverage", "mean_size"}
    # The whole group reproduces the design's own figures.
    assert groups["all"]["metrics"]["selected"] == active_run.designs["time"]["metrics"]["selected"]
    rows = run_group_rows(active_run)
    assert [(r.group, r.model) for r in rows][:4] == [
        ("all", "selected"), ("all", "majority"), ("all", "seed-logreg"), ("sequel", "selected")
    ]  # fmt: skip
    prequel = next(r for r in rows if r.model == "prequel-tier")
    assert prequel.model_label == "The prequel's tier" and prequel.coverage is None
    assert prequel.count == groups["sequel"]["count"]
    # Grouped CV has no sequel group (a held-out franchise has no history there).
    assert "sequel" not in active_run.groups["grouped"]
    assert AnimeRelation.objects.filter(relation="prequel").exists()


def test_it_takes_an_anime_s_earlier_entries_from_the_catalogue_relations(catalog):
    from catalog.models import AnimeRelation
    from evaluator.dataset import anime_input

    relation = AnimeRelation.objects.filter(relation="prequel").select_related("anime").first()
    parents = AnimeRelation.objects.filter(relation="parent").select_related("anime").first()
    sequels = AnimeRelation.objects.filter(relation="sequel").select_related("anime").first()
    assert relation.related_mal_id in anime_input(relation.anime).follows
    assert parents.related_mal_id in anime_input(parents.anime).follows
    # A sequel is not an earlier entry.
    assert sequels.related_mal_id not in anime_input(sequels.anime).follows
    # It is a related entry, as is any other relation (the franchise history leaves out the
    # related entries that are also earlier entries: a prequel names the anime as its sequel).
    assert sequels.related_mal_id in anime_input(sequels.anime).related


def test_it_links_related_entries_both_ways_but_never_follows(catalog):
    from catalog.models import AnimeRelation
    from catalog.selectors import anime_related_graph

    graph = anime_related_graph()
    alternative = AnimeRelation.objects.filter(relation="alternative").first()
    assert alternative.related_mal_id in graph[alternative.anime_id]
    assert alternative.anime_id in graph[alternative.related_mal_id]
    prequels = set(AnimeRelation.objects.filter(relation="prequel").values_list("anime_id", "related_mal_id"))
    others = set(
        AnimeRelation.objects.exclude(relation__in=("prequel", "parent")).values_list("anime_id", "related_mal_id")
    )
    only_prequel = next((a, b) for a, b in prequels if (a, b) not in others and (b, a) not in others)
    assert only_prequel[1] not in graph.get(only_prequel[0], ())
