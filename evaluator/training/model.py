"""The fitted model of one configuration (what the predictor artifact holds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

from catalog.tiers import Cutoffs
from evaluator.records import RecordEncoder
from evaluator.training.configs import Config, MemberOutputs, decide
from evaluator.training.conformal import conformal_scores, conformal_threshold, tier_sets
from evaluator.training.data import TrainingData
from evaluator.training.members import BlockScaler, RidgePath, logreg_fit, logreg_probabilities
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
    thresholds: dict[float, float]  # level -> conformal threshold
    column_means: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, scores) of full design rows (fixed columns then record columns)."""
        Xs = self.scaler.transform(X)
        w = self.config.embedding_weight
        outputs = MemberOutputs(
            logreg={(w, self.config.C): logreg_probabilities(self.logreg, Xs)} if self.logreg is not None else {},
            ridge={(w, self.config.alpha): self.ridge.predict(Xs, self.config.alpha)} if self.ridge is not None else {},
            sigma={(w, self.config.alpha): self.sigma},
            tier_means=self.tier_means,
            cutoffs=self.cutoffs,
        )
        probabilities, scores, _ = outputs.outputs(self.config)
        return probabilities, scores

    def decide(self, probabilities: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return decide(self.config, probabilities, scores, self.cutoffs)

    def tier_sets(self, probabilities: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
        return tier_sets(probabilities, self.thresholds[level])

    def describe(self) -> dict[str, object]:
        return {**self.config.describe(), "sigma": round(self.sigma, 4)}


def model_fit(
    data: TrainingData,
    rows: np.ndarray,
    config: Config,
    outputs: MemberOutputs,
    levels: Sequence[float],
    history: np.ndarray | None = None,
) -> TierModel:
    """Fit ``config`` on ``rows``; the conformal thresholds come from the inner out-of-fold
    predictions of the same configuration (``outputs``), never from the rows it is fitted on."""
    encoder = data.encoder_for(rows, history)
    X = data.design(encoder, rows)
    scaler = BlockScaler(data.embedding_dims, config.embedding_weight, encoder.franchise_columns).fit(X)
    Xs = scaler.transform(X)
    logreg = logreg_fit(Xs, data.y[rows], config.C) if config.family in ("logreg", "ensemble") else None
    ridge = RidgePath.fit(Xs, data.scores[rows], [config.alpha]) if config.family in ("ridge", "ensemble") else None
    probabilities, _, _ = outputs.outputs(config)
    calibration = conformal_scores(probabilities, data.y[rows])
    return TierModel(
        config=config,
        encoder=encoder,
        scaler=scaler,
        logreg=logreg,
        ridge=ridge,
        sigma=outputs.sigma.get((config.embedding_weight, config.alpha), 1.0),
        tier_means=outputs.tier_means,
        cutoffs=data.cutoffs,
        thresholds={level: conformal_threshold(calibration, level) for level in levels},
        column_means=X.mean(axis=0),
    )
