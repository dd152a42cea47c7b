"""Held-out figures by group of anime: sequels against new franchises, and the popular slice.

On the time split a test anime is a *sequel* when the franchise history finds an earlier entry
for it (``evaluator.franchise``: a prequel or parent story, transitively, scored and started
before it), else it opens a *new franchise*. Each group is scored for the chosen model, the
baselines and, for sequels, "the prequel's tier": the tier and score of the latest earlier entry,
the figure a fan would guess from. The *popular* group is the anime with at least
``POPULAR_MEMBERS`` members (the same slice the search prior calls popular), on every design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.training.conformal import set_metrics
from evaluator.training.data import TrainingData
from evaluator.training.metrics import metrics_compute
from evaluator.training.tiers import BASELINES, N_TIERS, tier_labels

POPULAR_MEMBERS = 100_000
GROUP_ORDER = ("all", "sequel", "new", "popular")
PREQUEL_BASELINE = "prequel-tier"


def _prequel_outputs(data: TrainingData, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = tier_labels(previous, data.cutoffs)
    probabilities = np.full((len(previous), N_TIERS), 1e-6)
    probabilities[np.arange(len(previous)), labels] = 1.0
    return probabilities / probabilities.sum(axis=1, keepdims=True), previous, labels


@dataclass(frozen=True)
class HeldOut:
    """A design's gathered held-out outputs: its rows, and per model its decisions,
    probabilities, scores and (for the fitted models) the bounds of its tier sets."""

    rows: np.ndarray
    decisions: dict[str, np.ndarray]
    probabilities: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    bounds: dict[str, tuple[np.ndarray, np.ndarray]]


def group_figures(
    design: HeldOut, data: TrainingData, masks: dict[str, np.ndarray], previous: np.ndarray | None
) -> dict[str, dict[str, object]]:
    """{group: {"count", "metrics": {model: metrics}, "sets": {model: coverage/mean_size}}},
    ``masks`` over the design's rows."""
    rows = design.rows
    y, true_scores = data.y[rows], data.scores[rows]
    out: dict[str, dict[str, object]] = {}
    for name in GROUP_ORDER:
        mask = masks.get(name)
        if mask is None or mask.sum() < 2:
            continue
        metrics, sets = {}, {}
        for model in ("selected", *BASELINES):
            if model not in design.decisions:
                continue
            metrics[model] = metrics_compute(
                y[mask],
                design.decisions[model][mask],
                design.probabilities[model][mask],
                design.scores[model][mask],
                true_scores[mask],
            )
            if model in design.bounds:
                low, high = design.bounds[model]
                sets[model] = set_metrics(low[mask], high[mask], y[mask])
        if name == "sequel" and previous is not None:
            p, s, d = _prequel_outputs(data, previous[mask])
            metrics[PREQUEL_BASELINE] = metrics_compute(y[mask], d, p, s, true_scores[mask])
        out[name] = {"count": int(mask.sum()), "metrics": metrics, "sets": sets}
    return out


def design_groups(design: HeldOut, data: TrainingData, history: np.ndarray | None) -> dict[str, dict[str, object]]:
    """The groups of one design: all and popular everywhere; sequels and new franchises where
    the design has a history pool (``history``: the time split's every earlier anime)."""
    rows = design.rows
    masks = {"all": np.ones(len(rows), dtype=bool)}
    members = data.extra.get("members")
    if members is not None:
        masks["popular"] = np.asarray(members)[rows] >= POPULAR_MEMBERS
    previous = None
    if history is not None:
        previous = data.latest_earlier_scores(rows, history)
        masks["sequel"] = ~np.isnan(previous)
        masks["new"] = np.isnan(previous)
    return group_figures(design, data, masks, previous)
