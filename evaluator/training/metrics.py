"""Held-out metrics: accuracy, macro-F1, within-one, Spearman, calibration."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from evaluator.training.tiers import N_TIERS


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray, *, bins: int = 10) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(error)


def calibration_bins(probabilities: np.ndarray, y: np.ndarray, *, bins: int = 10) -> dict[str, list[float]]:
    """Reliability curve: mean confidence, accuracy and count per confidence bin."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        mask = which == b
        if mask.any():
            out["confidence"].append(round(float(confidence[mask].mean()), 4))
            out["accuracy"].append(round(float(correct[mask].mean()), 4))
            out["count"].append(int(mask.sum()))
    return out


def confusion(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.bincount(y * N_TIERS + predicted, minlength=N_TIERS * N_TIERS).reshape(N_TIERS, N_TIERS)


def per_tier_f1(matrix: np.ndarray) -> np.ndarray:
    tp = np.diag(matrix).astype(np.float64)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    return np.divide(2 * tp, denominator, out=np.zeros(N_TIERS), where=denominator > 0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def decision_metrics(y: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """Accuracy, macro-F1 and within-one accuracy (fast: the inner selection calls this
    thousands of times)."""
    return (
        float(np.mean(predicted == y)),
        float(per_tier_f1(confusion(y, predicted)).mean()),
        float(np.mean(np.abs(predicted - y) <= 1)),
    )


def metrics_compute(
    y: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, scores: np.ndarray, true_scores: np.ndarray
) -> dict[str, float]:
    accuracy, macro_f1, within_one = decision_metrics(y, predicted)
    return {
        "accuracy": round(accuracy, 4),
        "macro_f1": round(macro_f1, 4),
        "within_one": round(within_one, 4),
        "spearman": round(spearman(scores, true_scores), 4),
        "ece": round(expected_calibration_error(probabilities, y), 4),
    }
