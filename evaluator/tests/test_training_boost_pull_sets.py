"""The boosted score member, the time-aware tier-set calibration and the sequels' pull."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.tiers import Cutoffs
from evaluator.training import Grid, TrainingData, split_run, tier_labels
from evaluator.training.configs import Config, MemberOutputs
from evaluator.training.conformal import (
    CALIBRATION_MIN,
    RECENT_YEARS,
    calibration_thresholds,
    conformal_threshold,
    grouped_tier_sets,
)
from evaluator.training.pull import PULL_MIN, SequelPull, pull_choose

CUTOFFS = Cutoffs(7.08, 7.47, 7.93)
ENSEMBLE = Config("ensemble", 0.5, C=0.01, alpha=1.0, mix=0.5, far=0.0)


def test_it_calibrates_the_sets_on_the_recent_years_of_each_history_group():
    rng = np.random.default_rng(0)
    n = 4000
    years = np.repeat(np.arange(2001, 2021), n // 20)
    has_history = np.arange(n) % 2 == 0
    scores = rng.uniform(0, 0.5, n)
    recent = years > 2020 - RECENT_YEARS
    scores[recent & ~has_history] += 0.4  # the newest anime without a history are the hardest
    thresholds = calibration_thresholds(scores, years, has_history, (0.9,))[0.9]
    assert thresholds[False] == conformal_threshold(scores[recent & ~has_history], 0.9)
    assert thresholds[True] == conformal_threshold(scores[recent & has_history], 0.9)
    assert thresholds[False] > thresholds[True]
    # A group with too few recent rows takes all of its rows; with too few rows at all, every row's.
    few = years.copy()
    few[:] = 2000
    few[: CALIBRATION_MIN - 1] = 2020
    fallback = calibration_thresholds(scores, few, has_history, (0.9,))[0.9]
    assert fallback[True] == conformal_threshold(scores[has_history], 0.9)
    lonely = np.zeros(n, dtype=bool)
    lonely[:10] = True
    assert calibration_thresholds(scores, years, lonely, (0.9,))[0.9][True] == conformal_threshold(scores, 0.9)


def test_each_row_gets_its_own_group_s_set():
    probabilities = np.array([[0.5, 0.3, 0.15, 0.05]] * 2)
    low, high = grouped_tier_sets(probabilities, {False: 0.9, True: 0.6}, np.array([False, True]))
    # Without a history the looser threshold keeps tiers down to probability 0.1; with one, 0.4.
    assert (low.tolist(), high.tolist()) == ([0, 0], [2, 0])


def test_its_pull_moves_only_sequels_towards_their_prequel():
    probabilities = np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
    scores = np.array([7.0, 7.0])
    last = np.array([np.nan, 8.4])
    p, s, d = SequelPull(0.5, 0.3).apply(ENSEMBLE, probabilities, scores, last, CUTOFFS)
    assert p[0].tolist() == probabilities[0].tolist() and s[0] == 7.0
    assert s[1] == pytest.approx(7.7)
    assert p[1].sum() == pytest.approx(1.0) and p[1][0] > probabilities[1][0]
    assert d.tolist() == [3, 0]
    # No share, nothing moves.
    unmoved = SequelPull(0.0, 0.3).apply(ENSEMBLE, probabilities, scores, last, CUTOFFS)
    assert np.array_equal(unmoved[0], probabilities) and np.array_equal(unmoved[1], scores)


def test_it_chooses_the_pull_on_the_recent_training_sequels():
    rng = np.random.default_rng(1)
    n = 600
    years = np.repeat(np.arange(2001, 2021), n // 20)
    last = rng.uniform(6.5, 8.5, n)
    true = last + rng.normal(scale=0.05, size=n)  # sequels that land on their prequel
    model = 7.3 + rng.normal(scale=0.3, size=n)  # a model that knows little
    probabilities = np.full((n, 4), 0.25)
    y = tier_labels(true, CUTOFFS)
    chosen = pull_choose(ENSEMBLE, probabilities, model, y, true, last, years, CUTOFFS)
    assert chosen.share == 0.6 and chosen.sigma == pytest.approx(np.std(true - last))
    # Too few sequels: no pull.
    none = np.full(n, np.nan)
    none[: PULL_MIN - 1] = last[: PULL_MIN - 1]
    assert pull_choose(ENSEMBLE, probabilities, model, y, true, none, years, CUTOFFS).share == 0.0


def test_its_score_member_blends_the_boosted_trees_by_its_share():
    ridge = np.array([7.0, 8.0])
    boosted = np.array([8.0, 6.0])
    outputs = MemberOutputs(
        logreg={}, ridge={(0.5, 1.0): ridge}, sigma={(0.5, 1.0, 0.25): 0.4}, tier_means=np.zeros(4),
        cutoffs=CUTOFFS, boost=boosted,
    )  # fmt: skip
    assert outputs.score_member(0.5, 1.0, 0.0).tolist() == ridge.tolist()
    assert outputs.score_member(0.5, 1.0, 0.25).tolist() == pytest.approx([7.25, 7.5])
    _, scores, decisions = outputs.outputs(Config("ridge", 0.5, alpha=1.0, boost=0.25))
    assert scores.tolist() == pytest.approx([7.25, 7.5]) and decisions.tolist() == [2, 1]


def test_its_nested_selection_can_choose_the_boosted_trees():
    # Scores that a tree reads at once (a step in one metadata column) and a linear model cannot.
    rng = np.random.default_rng(3)
    n = 300
    X = rng.normal(size=(n, 5))
    scores = 6.8 + 1.2 * (X[:, 3] > 0.3) + rng.normal(scale=0.1, size=n)
    data = TrainingData(
        X=X, y=tier_labels(scores, CUTOFFS), scores=scores, groups=np.array([f"f{i}" for i in range(n)]),
        mal_ids=np.arange(n), cutoffs=CUTOFFS, embedding_dims=2, years=np.full(n, 2000),
        genre_columns=np.array([2]),
    )  # fmt: skip
    grid = Grid(embedding_weight=(0.5,), C=(0.01,), alpha=(1.0,), mix=(0.5,), far=(0.0,), boost=(0.0, 1.0))
    result = split_run(data, np.arange(240), np.arange(240, n), grid=grid, families=("ridge",), levels=(0.9,))
    assert result.chosen["ridge"]["boost"] == 1.0
    assert np.corrcoef(result.outputs["ridge"][1], scores[240:])[0, 1] > 0.9
