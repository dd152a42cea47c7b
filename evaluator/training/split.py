"""One outer split: nested selection on its training rows, winners and baselines scored on its
held-out rows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluator.training.configs import (
    MemberOutputs,
    _members_fit_predict,
    configs,
    inner_outputs,
    select,
    tier_means_of,
)
from evaluator.training.conformal import calibration_thresholds, conformal_scores, grouped_tier_sets
from evaluator.training.data import TrainingData
from evaluator.training.members import BlockScaler, logreg_fit, logreg_probabilities
from evaluator.training.model import TierModel, model_fit
from evaluator.training.pull import pull_choose
from evaluator.training.tiers import N_TIERS, SEED_C, Grid


@dataclass
class SplitResult:
    """What one outer split gives: for each family and "selected", its configuration and the
    held-out rows' probabilities, scores, decisions and tier-set bounds per level; the baselines'
    held-out outputs; and (for the deployed fit) the fitted model."""

    test: np.ndarray
    chosen: dict[str, dict[str, object]]
    outputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    sets: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]
    seconds: float
    model: TierModel | None = None


def _baselines(
    data: TrainingData, train: np.ndarray, test: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    counts = np.bincount(data.y[train], minlength=N_TIERS).astype(np.float64)
    prior = np.tile(counts / counts.sum(), (len(test), 1))
    out = {"majority": (prior, np.full(len(test), data.scores[train].mean()), prior.argmax(axis=1))}
    columns = np.concatenate(
        [np.arange(data.embedding_dims), data.genre_columns if data.genre_columns is not None else []]
    ).astype(int)
    scaler = BlockScaler(0, 1.0).fit(data.X[train][:, columns])
    model = logreg_fit(scaler.transform(data.X[train][:, columns]), data.y[train], SEED_C)
    p = logreg_probabilities(model, scaler.transform(data.X[test][:, columns]))
    out["seed-logreg"] = (p, p @ tier_means_of(data, train), p.argmax(axis=1))
    return out


def split_run(
    data: TrainingData,
    train: np.ndarray,
    test: np.ndarray,
    *,
    grid: Grid,
    families: Sequence[str],
    levels: Sequence[float],
    keep_model: bool = False,
    history: np.ndarray | None = None,
) -> SplitResult:
    """Nested selection on ``train``, then each family's winner (and the overall winner) fitted
    on ``train`` and scored on ``test``. The franchise history draws on ``history`` (rows whose
    scores a fan knew, entries released earlier only) when given, else on the fitted rows."""
    started = time.perf_counter()
    outputs = inner_outputs(data, train, grid, families, history)
    best = select(outputs, data.y[train], data.scores[train], configs(grid, families))
    # One fit of the members the winners need, on all of ``train``.
    winners = {name: config for name, (config, _) in best.items()}
    weights = sorted({c.embedding_weight for c in winners.values()})
    Cs = sorted({c.C for c in winners.values() if c.family != "ridge"})
    alphas = sorted({c.alpha for c in winners.values() if c.family != "logreg"})
    held_out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    sets: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = {}
    # The sets' groups: the out-of-fold rows have the history their inner fits saw (``history``,
    # or none: a grouped inner fold holds no entry of the row's franchise); held-out rows, the
    # history their outer fit sees.
    years = data.years[train] if data.years is not None else np.zeros(len(train), dtype=np.int64)
    last_train = data.latest_earlier_scores(train, history)
    train_history = ~np.isnan(last_train)
    pulls = {
        name: pull_choose(
            config, *outputs.outputs(config)[:2], data.y[train], data.scores[train], last_train, years, data.cutoffs
        )
        for name, config in winners.items()
    }
    if len(test):
        last_test = data.latest_earlier_scores(test, history if history is not None else train)
        test_history = ~np.isnan(last_test)
        boost = any(c.boost for c in winners.values() if c.family != "logreg")
        logreg, ridge, boosted = _members_fit_predict(data, train, test, weights, Cs, alphas, history, boost=boost)
        fitted = MemberOutputs(logreg, ridge, outputs.sigma, outputs.tier_means, data.cutoffs, boosted)
        for name, config in winners.items():
            held_out[name] = pulls[name].apply(config, *fitted.outputs(config)[:2], last_test, data.cutoffs)
            pulled = pulls[name].apply(config, *outputs.outputs(config)[:2], last_train, data.cutoffs)[0]
            calibration = conformal_scores(pulled, data.y[train])
            thresholds = calibration_thresholds(calibration, years, train_history, levels)
            sets[name] = {
                level: grouped_tier_sets(held_out[name][0], thresholds[level], test_history) for level in levels
            }
        held_out.update(_baselines(data, train, test))
    model = (
        model_fit(data, train, winners["selected"], outputs, levels, history, years, last_train, pulls["selected"])
        if keep_model
        else None
    )
    return SplitResult(
        test=test,
        chosen={
            name: {**config.describe(), "pull": pulls[name].share, "inner_score": round(value, 4)}
            for name, (config, value) in best.items()
        },
        outputs=held_out,
        sets=sets,
        seconds=round(time.perf_counter() - started, 2),
        model=model,
    )
