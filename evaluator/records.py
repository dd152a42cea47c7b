"""Features made from the training anime's real scores, fitted on a training fold only.

- ``studio``: the track record of the anime's studios: the shrunken mean score (against the
  fold's mean) of the studios' *earlier* training anime, how many there were, and whether there
  were any. An anime's own franchise never counts, nor does any anime that started at the same
  time or later, so the record is what was known before the anime came out.
- ``neighbours``: the similarity-weighted mean score of the ``NEIGHBOURS`` training anime whose
  synopses read most like this one (cosine of the embeddings), other franchises only, and how
  close they are.
- ``franchise``: the record of the earlier entries it follows (``evaluator.franchise``): from the
  history pool the encoder is given (the training rows unless the caller widens it), entries
  that started earlier only.

The encoder is fitted on the training rows of a split and then encodes any rows (the training
rows themselves under the same exclusions, the held-out rows, a user's input). A user's input
has no franchise and, without a year, comes after every catalogue anime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluator.franchise import FRANCHISE_NAMES, FranchiseHistory

RECORD_GROUPS = ("studio", "neighbours", "franchise")
RECORD_NAMES = {
    "studio": ("studio:record", "studio:experience", "studio:unknown"),
    "neighbours": ("neighbours:record", "neighbours:similarity"),
    "franchise": FRANCHISE_NAMES,
}
# Pseudo-count of the shrinkage towards the fold's mean: a studio with one earlier anime says
# little; one with twenty says a lot.
STUDIO_SHRINK = 5.0
NEIGHBOURS = 10


@dataclass(frozen=True)
class RecordRows:
    """What the encoder needs of the rows it fits on or encodes."""

    studios: Sequence[tuple[str, ...]]
    when: np.ndarray  # release time as a year fraction; inf = after everything
    groups: np.ndarray  # franchise keys; "" = none (a user's input)
    embeddings: np.ndarray  # L2-normalised, float32
    # The franchise history's: the MAL ids each row directly follows, its own MAL id (0 = a
    # user's input), its vote count and title (for the pool's entries).
    follows: Sequence[tuple[int, ...]] = ()
    mal_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    votes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    titles: Sequence[str] = ()
    related: Sequence[tuple[int, ...]] = ()  # MAL ids linked by any other relation

    def take(self, rows: np.ndarray) -> RecordRows:
        return RecordRows(
            studios=[self.studios[i] for i in rows],
            when=self.when[rows],
            groups=self.groups[rows],
            embeddings=self.embeddings[rows],
            follows=[self.follows[i] for i in rows] if len(self.follows) else (),
            mal_ids=self.mal_ids[rows] if len(self.mal_ids) else self.mal_ids,
            votes=self.votes[rows] if len(self.votes) else self.votes,
            titles=[self.titles[i] for i in rows] if len(self.titles) else (),
            related=[self.related[i] for i in rows] if len(self.related) else (),
        )


@dataclass(frozen=True)
class StudioRecord:
    """What the record of an input's studios rests on (for the reasons shown to users)."""

    count: int
    mean_score: float | None


class RecordEncoder:
    def __init__(self, groups: Sequence[str], graph: Mapping[int, tuple[int, ...]] | None = None) -> None:
        self.groups = tuple(g for g in RECORD_GROUPS if g in groups)
        self.franchise = FranchiseHistory(graph or {}) if "franchise" in self.groups else None

    @property
    def franchise_columns(self) -> int:
        """How many of the last columns are the franchise history's."""
        return len(FRANCHISE_NAMES) if self.franchise is not None else 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for group in self.groups for name in RECORD_NAMES[group])

    def fit(
        self, rows: RecordRows, scores: np.ndarray, history: tuple[RecordRows, np.ndarray] | None = None
    ) -> RecordEncoder:
        """Fit on ``rows`` and their ``scores``; the franchise history draws on ``history`` (rows
        and their scores) when given, else on ``rows``."""
        self.prior = float(np.mean(scores))
        if self.franchise is not None:
            pool, pool_scores = history if history is not None else (rows, scores)
            self.franchise.fit(
                mal_ids=pool.mal_ids,
                scores=pool_scores,
                votes=pool.votes,
                when=pool.when,
                titles=pool.titles,
                prior=self.prior,
            )
        self.residuals = np.asarray(scores, dtype=np.float64) - self.prior
        self.when = np.asarray(rows.when, dtype=np.float64)
        self.franchises = np.asarray(rows.groups)
        # Franchise keys as integers: comparing every row's key with every training row's (the
        # neighbours' exclusion) is a million string comparisons otherwise, most of a training.
        self.franchise_codes = {key: code for code, key in enumerate(dict.fromkeys(self.franchises.tolist()))}
        self.franchise_ids = np.array([self.franchise_codes[k] for k in self.franchises.tolist()], dtype=np.int64)
        self.embeddings = np.ascontiguousarray(rows.embeddings, dtype=np.float32)
        by_studio: dict[str, list[int]] = {}
        for i, studios in enumerate(rows.studios):
            for studio in studios:
                by_studio.setdefault(studio, []).append(i)
        self.by_studio = {studio: np.array(ids, dtype=np.int64) for studio, ids in by_studio.items()}
        return self

    def transform(self, rows: RecordRows) -> np.ndarray:
        columns = []
        if "studio" in self.groups:
            columns.append(self._studio(rows))
        if "neighbours" in self.groups:
            columns.append(self._neighbours(rows))
        if self.franchise is not None:
            mal_ids = rows.mal_ids if len(rows.mal_ids) else None
            n = len(rows.when)
            columns.append(
                self.franchise.transform(rows.follows or [()] * n, rows.when, mal_ids, rows.related or [()] * n)
            )
        if not columns:
            return np.zeros((len(rows.when), 0))
        return np.hstack(columns)

    def _earlier(self, studios: tuple[str, ...], when: float, franchise: str) -> np.ndarray:
        ids = [self.by_studio[s] for s in studios if s in self.by_studio]
        if not ids:
            return np.zeros(0, dtype=np.int64)
        candidates = np.unique(np.concatenate(ids))
        keep = (self.when[candidates] < when) & (self.franchises[candidates] != franchise)
        return candidates[keep]

    def _studio(self, rows: RecordRows) -> np.ndarray:
        out = np.zeros((len(rows.when), 3))
        for k, (studios, when, franchise) in enumerate(zip(rows.studios, rows.when, rows.groups, strict=True)):
            earlier = self._earlier(studios, float(when), str(franchise))
            if len(earlier):
                out[k, 0] = self.residuals[earlier].sum() / (len(earlier) + STUDIO_SHRINK)
                out[k, 1] = np.log1p(len(earlier))
            else:
                out[k, 2] = 1.0
        return out

    def _neighbours(self, rows: RecordRows) -> np.ndarray:
        similarity = np.asarray(rows.embeddings, dtype=np.float32) @ self.embeddings.T
        own = np.array([self.franchise_codes.get(k, -1) for k in np.asarray(rows.groups).tolist()], dtype=np.int64)
        similarity[own[:, None] == self.franchise_ids[None, :]] = -np.inf
        k = min(NEIGHBOURS, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        sims = np.take_along_axis(similarity, nearest, axis=1).astype(np.float64)
        sims = np.where(np.isfinite(sims), sims, 0.0)
        weights = np.clip(sims, 1e-3, None)
        record = (weights * self.residuals[nearest]).sum(axis=1) / weights.sum(axis=1)
        return np.stack([record, sims.mean(axis=1)], axis=1)

    def studio_record(self, studios: tuple[str, ...], when: float = np.inf) -> StudioRecord:
        earlier = self._earlier(studios, when, "")
        if not len(earlier):
            return StudioRecord(0, None)
        return StudioRecord(len(earlier), round(float(self.prior + self.residuals[earlier].mean()), 2))
