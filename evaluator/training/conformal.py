"""Split-conformal tier sets ("least ambiguous" sets made contiguous) and their coverage."""

from __future__ import annotations

import math

import numpy as np

from evaluator.training.tiers import N_TIERS


def conformal_scores(probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nonconformity of each calibration row: one minus the probability of its true tier."""
    return 1.0 - probabilities[np.arange(len(y)), y]


def conformal_threshold(scores: np.ndarray, level: float) -> float:
    """The finite-sample quantile: with n calibration rows, the ceil((n + 1) level)-th smallest."""
    n = len(scores)
    rank = math.ceil((n + 1) * level)
    if rank > n:
        return 1.0
    return float(np.sort(scores)[rank - 1])


def tier_sets(probabilities: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's set as an interval [low, high] of label ids: every tier whose probability is at
    least ``1 - threshold``, gaps filled so the set is contiguous (which only adds coverage), and
    the most likely tier when none is."""
    included = probabilities >= 1.0 - threshold - 1e-12
    included[np.arange(len(probabilities)), probabilities.argmax(axis=1)] |= ~included.any(axis=1)
    low = included.argmax(axis=1)
    high = N_TIERS - 1 - included[:, ::-1].argmax(axis=1)
    return low, high


def set_metrics(low: np.ndarray, high: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "coverage": round(float(np.mean((low <= y) & (y <= high))), 4),
        "mean_size": round(float(np.mean(high - low + 1)), 4),
    }
