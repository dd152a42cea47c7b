"""Configurations and the nested selection: inner out-of-fold member outputs, the choice of
the best configuration per family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from catalog.tiers import Cutoffs
from evaluator.training.data import TrainingData, grouped_splits
from evaluator.training.members import BlockScaler, RidgePath, boost_fit, logreg_path
from evaluator.training.metrics import decision_metrics, spearman
from evaluator.training.tiers import (
    INNER_FOLDS,
    N_TIERS,
    SELECTION_KEYS,
    Grid,
    ordinal_decide,
    score_to_probabilities,
    tier_labels,
)


@dataclass(frozen=True)
class Config:
    family: str
    embedding_weight: float
    C: float = 0.0
    alpha: float = 0.0
    mix: float = 0.0  # the logistic share of the ensemble
    far: float = 0.0
    boost: float = 0.0  # the boosted trees' share of the score member (ridge and ensemble)

    def describe(self) -> dict[str, object]:
        data: dict[str, object] = {"family": self.family, "embedding_weight": self.embedding_weight}
        if self.family in ("logreg", "ensemble"):
            data["C"] = self.C
        if self.family in ("ridge", "ensemble"):
            data["alpha"] = self.alpha
            data["boost"] = self.boost
        if self.family == "ensemble":
            data["mix"] = self.mix
        if self.family != "ridge":
            data["far"] = self.far
        return data


def configs(grid: Grid, families: Sequence[str]) -> list[Config]:
    out: list[Config] = []
    for w in grid.embedding_weight:
        if "logreg" in families:
            out += [Config("logreg", w, C=C, far=far) for C, far in product(grid.C, grid.far)]
        if "ridge" in families:
            out += [Config("ridge", w, alpha=alpha, boost=b) for alpha, b in product(grid.alpha, grid.boost)]
        if "ensemble" in families:
            out += [
                Config("ensemble", w, C=C, alpha=alpha, mix=mix, far=far, boost=b)
                for C, alpha, mix, far, b in product(grid.C, grid.alpha, grid.mix, grid.far, grid.boost)
            ]
    return out


@dataclass
class MemberOutputs:
    """What the members predict for some rows: logistic probabilities per (weight, C), ridge
    scores per (weight, alpha), the boosted trees' scores, the residual widths of the score
    member per (weight, alpha, boost share) and the tier means."""

    logreg: dict[tuple[float, float], np.ndarray]
    ridge: dict[tuple[float, float], np.ndarray]
    sigma: dict[tuple[float, float, float], float]
    tier_means: np.ndarray
    cutoffs: Cutoffs
    boost: np.ndarray | None = None
    _score_outputs: dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def score_member(self, weight: float, alpha: float, boost: float) -> np.ndarray:
        """The score member: the ridge's scores, blended with the boosted trees' by ``boost``."""
        scores = self.ridge[(weight, alpha)]
        return scores if not boost else (1 - boost) * scores + boost * self.boost

    def _score_member_outputs(self, weight: float, alpha: float, boost: float) -> tuple[np.ndarray, np.ndarray]:
        """The score member's scores and tier probabilities, worked out once per member: the
        selection asks for them once per mix and decision rule (hundreds of times)."""
        key = (weight, alpha, boost)
        if key not in self._score_outputs:
            scores = self.score_member(weight, alpha, boost)
            self._score_outputs[key] = (scores, score_to_probabilities(scores, self.sigma[key], self.cutoffs))
        return self._score_outputs[key]

    def outputs(self, config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, scores, decisions) of a configuration."""
        w = config.embedding_weight
        if config.family in ("logreg", "ensemble"):
            p_lr = self.logreg[(w, config.C)]
            s_lr = p_lr @ self.tier_means
        if config.family in ("ridge", "ensemble"):
            s_ridge, p_ridge = self._score_member_outputs(w, config.alpha, config.boost)
        if config.family == "logreg":
            p, s = p_lr, s_lr
        elif config.family == "ridge":
            p, s = p_ridge, s_ridge
        else:
            p = config.mix * p_lr + (1 - config.mix) * p_ridge
            s = config.mix * s_lr + (1 - config.mix) * s_ridge
        return p, s, decide(config, p, s, self.cutoffs)


def decide(config: Config, probabilities: np.ndarray, scores: np.ndarray, cutoffs: Cutoffs) -> np.ndarray:
    """The tiers a configuration decides: the ridge regressor cuts its score at the thresholds,
    the others take the least expected ordinal cost."""
    if config.family == "ridge":
        return tier_labels(scores, cutoffs)
    return ordinal_decide(probabilities, config.far)


def _members_fit_predict(
    data: TrainingData,
    train: np.ndarray,
    test: np.ndarray,
    weights: Sequence[float],
    Cs: Sequence[float],
    alphas: Sequence[float],
    history: np.ndarray | None = None,
    boost: bool = False,
) -> tuple[dict[tuple[float, float], np.ndarray], dict[tuple[float, float], np.ndarray], np.ndarray | None]:
    """Fit the members on ``train`` (record features from ``train`` only) and predict ``test``:
    logistic probabilities per (weight, C), ridge scores per (weight, alpha) and (``boost``) the
    boosted trees' scores."""
    encoder = data.encoder_for(train, history)
    X_train, X_test = data.design(encoder, train), data.design(encoder, test)
    boosted = None
    if boost:
        E = data.embedding_dims
        boosted = boost_fit(X_train[:, E:], data.scores[train]).predict(X_test[:, E:])
    logreg, ridge = {}, {}
    for w in weights:
        scaler = BlockScaler(data.embedding_dims, w, encoder.franchise_columns).fit(X_train)
        Xs_train, Xs_test = scaler.transform(X_train), scaler.transform(X_test)
        for C, probabilities in logreg_path(Xs_train, data.y[train], Cs, Xs_test).items():
            logreg[(w, C)] = probabilities
        if alphas:
            path = RidgePath.fit(Xs_train, data.scores[train], alphas)
            for alpha in alphas:
                ridge[(w, alpha)] = path.predict(Xs_test, alpha)
    return logreg, ridge, boosted


def tier_means_of(data: TrainingData, rows: np.ndarray) -> np.ndarray:
    overall = float(data.scores[rows].mean())
    return np.array(
        [
            float(data.scores[rows][data.y[rows] == k].mean()) if (data.y[rows] == k).any() else overall
            for k in range(N_TIERS)
        ]
    )


def inner_outputs(
    data: TrainingData, rows: np.ndarray, grid: Grid, families: Sequence[str], history: np.ndarray | None = None
) -> MemberOutputs:
    """Out-of-fold member predictions over ``rows`` from a grouped inner CV inside them (the
    franchise history from ``history`` when given, else from each inner training fold)."""
    need_lr = any(f in families for f in ("logreg", "ensemble"))
    need_ridge = any(f in families for f in ("ridge", "ensemble"))
    Cs = grid.C if need_lr else ()
    alphas = grid.alpha if need_ridge else ()
    position = {int(r): i for i, r in enumerate(rows)}
    logreg = {(w, C): np.zeros((len(rows), N_TIERS)) for w in grid.embedding_weight for C in Cs}
    ridge = {(w, a): np.zeros(len(rows)) for w in grid.embedding_weight for a in alphas}
    shares = grid.boost if need_ridge else (0.0,)
    use_boost = any(shares)
    boosted = np.zeros(len(rows)) if use_boost else None
    for inner_train, inner_test in grouped_splits(data, INNER_FOLDS, rows):
        at = np.array([position[int(r)] for r in inner_test])
        p, s, b = _members_fit_predict(
            data, inner_train, inner_test, grid.embedding_weight, Cs, alphas, history, boost=use_boost
        )
        for key, value in p.items():
            logreg[key][at] = value
        for key, value in s.items():
            ridge[key][at] = value
        if b is not None:
            boosted[at] = b
    outputs = MemberOutputs(logreg, ridge, {}, tier_means_of(data, rows), data.cutoffs, boosted)
    outputs.sigma = {
        (w, a, b): float(np.std(data.scores[rows] - outputs.score_member(w, a, b))) for (w, a) in ridge for b in shares
    }
    return outputs


def criterion(y: np.ndarray, decisions: np.ndarray, rank: float) -> float:
    """The selection criterion: the mean of the decision metrics and the Spearman ``rank``
    (``SELECTION_KEYS``)."""
    return (sum(decision_metrics(y, decisions)) + rank) / len(SELECTION_KEYS)


def select(
    outputs: MemberOutputs, y: np.ndarray, true_scores: np.ndarray, candidates: Sequence[Config]
) -> dict[str, tuple[Config, float]]:
    """The best configuration of each family on the inner out-of-fold predictions, and the best
    of all under "selected"."""
    best: dict[str, tuple[Config, float]] = {}
    rank_cache: dict[tuple, float] = {}
    for config in candidates:
        _, scores, decisions = outputs.outputs(config)
        key = (config.family, config.embedding_weight, config.C, config.alpha, config.mix, config.boost)
        if key not in rank_cache:
            rank_cache[key] = spearman(scores, true_scores)
        value = criterion(y, decisions, rank_cache[key])
        if config.family not in best or value > best[config.family][1] + 1e-12:
            best[config.family] = (config, value)
    best["selected"] = max(best.values(), key=lambda cv: cv[1])
    return best
