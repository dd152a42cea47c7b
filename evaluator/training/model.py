"""The fitted model of one configuration (what the predictor artifact holds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from catalog.tiers import Cutoffs
from evaluator.records import RecordEncoder
from evaluator.training.configs import Config, MemberOutputs, decide
from evaluator.training.conformal import calibration_thresholds, conformal_scores, grouped_tier_sets
from evaluator.training.data import TrainingData
from evaluator.training.members import BlockScaler, RidgePath, boost_fit, logreg_fit, logreg_probabilities
from evaluator.training.pull import SequelPull
from evaluator.training.tiers import LEVEL


@dataclass
class TierModel:
    """A fitted configuration: record encoder, scaler, members, decision rule and the conformal
    thresholds of its tier sets."""

    config: Config
    encoder: RecordEncoder
    scaler: BlockScaler
    logreg: LogisticRegression | None
    ridge: RidgePath | None
    sigma: float
    tier_means: np.ndarray
    cutoffs: Cutoffs
    thresholds: dict[float, dict[bool, float]]  # level -> {has a franchise history: conformal threshold}
    column_means: np.ndarray = field(default_factory=lambda: np.zeros(0))
    boost: HistGradientBoostingRegressor | None = None
    embedding_dims: int = 0
    pull: SequelPull = field(default_factory=SequelPull)

    def latest_earlier_scores(self, X: np.ndarray) -> np.ndarray:
        """The latest earlier entry's score of full design rows, from their franchise columns
        (NaN when there is none, or when the model has no franchise history)."""
        names = self.encoder.names
        if "franchise:has_history" not in names:
            return np.full(len(X), np.nan)
        first = X.shape[1] - len(names)
        has = X[:, first + names.index("franchise:has_history")] > 0
        last = X[:, first + names.index("franchise:last_score")] + self.encoder.prior
        return np.where(has, last, np.nan)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, scores) of full design rows (fixed columns then record columns)."""
        Xs = self.scaler.transform(X)
        w = self.config.embedding_weight
        outputs = MemberOutputs(
            logreg={(w, self.config.C): logreg_probabilities(self.logreg, Xs)} if self.logreg is not None else {},
            ridge={(w, self.config.alpha): self.ridge.predict(Xs, self.config.alpha)} if self.ridge is not None else {},
            sigma={(w, self.config.alpha, self.config.boost): self.sigma},
            tier_means=self.tier_means,
            cutoffs=self.cutoffs,
            boost=self.boost.predict(X[:, self.embedding_dims :]) if self.boost is not None else None,
        )
        probabilities, scores, _ = self.pull.apply(
            self.config, *outputs.outputs(self.config)[:2], self.latest_earlier_scores(X), self.cutoffs
        )
        return probabilities, scores

    def decide(self, probabilities: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return decide(self.config, probabilities, scores, self.cutoffs)

    def tier_sets(
        self, probabilities: np.ndarray, has_history: np.ndarray, level: float = LEVEL
    ) -> tuple[np.ndarray, np.ndarray]:
        """The sets of rows with (``has_history``) or without a franchise history."""
        return grouped_tier_sets(probabilities, self.thresholds[level], np.asarray(has_history, dtype=bool))

    def describe(self) -> dict[str, object]:
        return {**self.config.describe(), "sigma": round(self.sigma, 4), "pull": self.pull.share}


def model_fit(
    data: TrainingData,
    rows: np.ndarray,
    config: Config,
    outputs: MemberOutputs,
    levels: Sequence[float],
    history: np.ndarray | None = None,
    years: np.ndarray | None = None,
    last: np.ndarray | None = None,
    pull: SequelPull | None = None,
) -> TierModel:
    """Fit ``config`` on ``rows``; the conformal thresholds come from the inner out-of-fold
    predictions of the same configuration (``outputs``), never from the rows it is fitted on, by
    the rows' start ``years`` and whether they have a franchise history (``last``: their latest
    earlier entry's score, NaN for none), after the sequels' ``pull``."""
    encoder = data.encoder_for(rows, history)
    X = data.design(encoder, rows)
    scaler = BlockScaler(data.embedding_dims, config.embedding_weight, encoder.franchise_columns).fit(X)
    Xs = scaler.transform(X)
    logreg = logreg_fit(Xs, data.y[rows], config.C) if config.family in ("logreg", "ensemble") else None
    ridge = RidgePath.fit(Xs, data.scores[rows], [config.alpha]) if config.family in ("ridge", "ensemble") else None
    boost = None
    if ridge is not None and config.boost:
        boost = boost_fit(X[:, data.embedding_dims :], data.scores[rows])
    years = years if years is not None else np.zeros(len(rows), dtype=np.int64)
    last = last if last is not None else np.full(len(rows), np.nan)
    pull = pull or SequelPull()
    probabilities = pull.apply(config, *outputs.outputs(config)[:2], last, data.cutoffs)[0]
    calibration = conformal_scores(probabilities, data.y[rows])
    has_history = ~np.isnan(last)
    return TierModel(
        config=config,
        encoder=encoder,
        scaler=scaler,
        logreg=logreg,
        ridge=ridge,
        sigma=outputs.sigma.get((config.embedding_weight, config.alpha, config.boost), 1.0),
        tier_means=outputs.tier_means,
        cutoffs=data.cutoffs,
        thresholds=calibration_thresholds(calibration, years, has_history, levels),
        column_means=X.mean(axis=0),
        boost=boost,
        embedding_dims=data.embedding_dims,
        pull=pull,
    )
