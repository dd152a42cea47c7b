"""The training matrix and the outer splits: franchise-grouped, random and the time split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

from catalog.tiers import Cutoffs
from evaluator.franchise import FranchiseHistory
from evaluator.records import RecordEncoder, RecordRows
from evaluator.training.tiers import SEED

# The time split's cut: the latest start year that leaves at least this many scored anime on
# the test side (a fifth of the anime for a small training set, e.g. ``--limit`` runs).
TIME_TEST_MIN = 1000


@dataclass
class TrainingData:
    X: np.ndarray  # the fold-independent columns: embedding block first, then tabular
    y: np.ndarray
    scores: np.ndarray
    groups: np.ndarray
    mal_ids: np.ndarray
    cutoffs: Cutoffs
    embedding_dims: int = 0
    years: np.ndarray | None = None
    records: RecordRows | None = None
    record_groups: tuple[str, ...] = ()
    genre_columns: np.ndarray | None = None  # column indices of the genres (the seed baseline's)
    extra: dict[str, object] = field(default_factory=dict)
    # The catalogue's relation graph for the franchise history: MAL id -> MAL ids it follows.
    follows_graph: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def design(self, encoder: RecordEncoder, rows: np.ndarray) -> np.ndarray:
        """The full feature matrix of ``rows``: fixed columns, then the encoder's record columns."""
        if not encoder.groups or self.records is None:
            return self.X[rows]
        return np.hstack([self.X[rows], encoder.transform(self.records.take(rows))])

    def encoder_for(self, rows: np.ndarray, history: np.ndarray | None = None) -> RecordEncoder:
        """The record encoder fitted on ``rows``; its franchise history draws on the scores of
        ``history`` (default: ``rows`` themselves), earlier entries only."""
        encoder = RecordEncoder(self.record_groups if self.records is not None else (), self.follows_graph)
        if encoder.groups:
            pool = None if history is None else (self.records.take(history), self.scores[history])
            encoder.fit(self.records.take(rows), self.scores[rows], pool)
        return encoder

    def latest_earlier_scores(self, rows: np.ndarray, pool: np.ndarray | None) -> np.ndarray:
        """The score of each of ``rows``' latest earlier entry among the scored anime of ``pool``
        (NaN when there is none, and for every row without a pool or a franchise history)."""
        out = np.full(len(rows), np.nan)
        if pool is None or self.records is None or not len(self.records.follows):
            return out
        records = self.records.take(pool)
        franchise = FranchiseHistory(self.follows_graph).fit(
            mal_ids=records.mal_ids, scores=self.scores[pool], votes=records.votes, when=records.when
        )
        for k, i in enumerate(rows):
            entries = franchise.earlier(self.records.follows[i], float(self.records.when[i]), int(self.mal_ids[i]))
            if entries:
                out[k] = entries[-1].score
        return out


def grouped_splits(
    data: TrainingData, folds: int, rows: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Franchise-grouped folds (of ``rows``, default all), stratified by tier where the groups
    allow it. Indices returned are into the whole data."""
    rows = np.arange(len(data.y)) if rows is None else rows
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=SEED)
    splits = list(splitter.split(rows, data.y[rows], data.groups[rows]))
    if any(len(test) == 0 for _, test in splits):  # pragma: no cover - tiny data sets only
        splits = list(GroupKFold(n_splits=folds).split(rows, data.y[rows], data.groups[rows]))
    return [(rows[a], rows[b]) for a, b in splits]


def random_splits(data: TrainingData, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(data.X, data.y))


def time_cut(years: np.ndarray, minimum: int = TIME_TEST_MIN) -> int | None:
    """The latest start year with at least ``minimum`` anime from it on and as many before it
    (None when too few)."""
    known = years[years > 0]
    minimum = min(minimum, len(known) // 5)
    for year in sorted(set(known.tolist()), reverse=True):
        if (known >= year).sum() >= minimum and (known < year).sum() >= minimum:
            return int(year)
    return None


def time_split(data: TrainingData, minimum: int = TIME_TEST_MIN) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(cut year, training rows: started before it, test rows: from it on). Anime without a year
    train."""
    if data.years is None:
        return None
    cut = time_cut(data.years, minimum)
    if cut is None:
        return None
    test = data.years >= cut
    return cut, np.flatnonzero(~test), np.flatnonzero(test)
