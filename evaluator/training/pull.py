"""The prequel's pull: how far a sequel's prediction leans towards its latest earlier entry.

The model reads a sequel's franchise record through the same linear and tree members as every
other input, so its prediction is pulled towards what the other inputs say. On the most recent
training years sequels followed their prequel more closely than on the older ones (the time
split's training rows: out of fold, the model named the tier of 2019-2021 sequels less often
than the prequel's tier did, 0.596 against 0.615, while over every year it named it more often,
0.575 against 0.539). So a sequel's probabilities and score are mixed with the prequel's own:
its score, and the tier probabilities of a Gaussian around it whose width is the training
sequels' spread around their prequel. The share is chosen, like the tier sets' calibration, on
the out-of-fold predictions of the training sequels of the last ``RECENT_YEARS`` start years
(every training sequel when they are too few), by the selection criterion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.tiers import Cutoffs
from evaluator.training.configs import Config, criterion, decide
from evaluator.training.conformal import CALIBRATION_MIN, recent_rows
from evaluator.training.metrics import spearman
from evaluator.training.tiers import score_to_probabilities

SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
# Fewer training sequels than this and there is no pull: too few to choose a share on.
PULL_MIN = 50


@dataclass(frozen=True)
class SequelPull:
    share: float = 0.0
    sigma: float = 1.0  # the training sequels' spread around their latest earlier entry's score

    def apply(
        self, config: Config, probabilities: np.ndarray, scores: np.ndarray, last: np.ndarray, cutoffs: Cutoffs
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, scores, decisions) with every row that has a latest earlier entry's
        score (``last``, NaN for none) pulled towards it."""
        probabilities, scores = probabilities.copy(), scores.copy()
        rows = ~np.isnan(last)
        if self.share and rows.any():
            prequel = score_to_probabilities(last[rows], self.sigma, cutoffs)
            probabilities[rows] = (1 - self.share) * probabilities[rows] + self.share * prequel
            scores[rows] = (1 - self.share) * scores[rows] + self.share * last[rows]
        return probabilities, scores, decide(config, probabilities, scores, cutoffs)


def pull_choose(
    config: Config,
    probabilities: np.ndarray,
    scores: np.ndarray,
    y: np.ndarray,
    true_scores: np.ndarray,
    last: np.ndarray,
    years: np.ndarray,
    cutoffs: Cutoffs,
) -> SequelPull:
    """The share with the best selection criterion on the recent training sequels' out-of-fold
    predictions (``probabilities``, ``scores``; ``last``: their latest earlier entry's score)."""
    sequels = ~np.isnan(last)
    if sequels.sum() < PULL_MIN:
        return SequelPull()
    sigma = float(np.std(true_scores[sequels] - last[sequels]))
    recent = sequels & recent_rows(years)
    rows = recent if recent.sum() >= CALIBRATION_MIN else sequels
    best, best_value = SequelPull(0.0, sigma), -np.inf
    for share in SHARES:
        pull = SequelPull(share, sigma)
        _, s, d = pull.apply(config, probabilities[rows], scores[rows], last[rows], cutoffs)
        value = criterion(y[rows], d, spearman(s, true_scores[rows]))
        if value > best_value + 1e-12:
            best, best_value = pull, value
    return best
