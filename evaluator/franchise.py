"""Franchise history: how the earlier entries an anime follows did, known before it came out.

An anime's *earlier entries* are the catalogue anime it follows by relation, transitively: its
prequel and its parent story (``catalog.selectors.FOLLOW_RELATIONS``: relation kinds ``prequel``
and ``parent``; sequels, side stories, summaries, alternative versions, spin-offs and the loose
links never count), then their prequels and parent stories, and so on. Of those, only the ones in the history pool (scored
anime the split may use) that started strictly *earlier* than the anime count, so an anime's own
score and any later entry's never enter its features.

Which anime the pool holds is the caller's: inside grouped CV the training fold only (a held-out
franchise has no history there by construction); on the time split and for the deployed model
every scored anime, the release-time filter keeping it to what a fan knew at release.

Columns (group ``franchise``): whether there is any earlier entry; the latest one's score and
the mean of all (both against the pool's mean score), the latest one's votes (log), how many
there are (log) and the years since the latest one started. Then the anime's *related entries*:
the pool's anime linked to it directly by any other relation (``catalog.selectors.
anime_related_graph``: an alternative version it remakes, a series it spins off from, one
sharing its characters), started strictly earlier and not among its earlier entries: whether
there is any, their mean score (against the pool's mean) and how many (log). A remake opens a
"new franchise" to the follow relations, but its original's score is known before it airs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

FRANCHISE_NAMES = (
    "franchise:has_history",
    "franchise:last_score",
    "franchise:mean_score",
    "franchise:last_votes",
    "franchise:entries",
    "franchise:years_since",
    "franchise:related",
    "franchise:related_score",
    "franchise:related_entries",
)
# The first columns describe the earlier entries followed; the rest, the related entries.
FOLLOW_COLUMNS = 6
# Years since the latest entry, capped: a 30-year-old prequel says about as much as a 15-year-old.
YEARS_CAP = 15.0


@dataclass(frozen=True)
class Entry:
    """One earlier entry of a franchise, as the history knows it."""

    mal_id: int
    title: str
    score: float
    votes: int
    when: float


class FranchiseHistory:
    """The earlier entries of any anime from a pool of scored anime and the catalogue's relation
    graph (``graph``: MAL id -> MAL ids it directly follows)."""

    def __init__(self, graph: Mapping[int, tuple[int, ...]]) -> None:
        self.graph = dict(graph)

    def fit(
        self,
        *,
        mal_ids: Sequence[int],
        scores: np.ndarray,
        votes: Sequence[int],
        when: np.ndarray,
        titles: Sequence[str] = (),
        prior: float | None = None,
    ) -> FranchiseHistory:
        self.prior = float(np.mean(scores)) if prior is None else prior
        titles = list(titles) or [""] * len(mal_ids)
        self.pool = {
            int(m): Entry(int(m), t, float(s), int(v or 0), float(w))
            for m, t, s, v, w in zip(mal_ids, titles, scores, votes, when, strict=True)
        }
        return self

    def ancestors(self, follows: Sequence[int]) -> set[int]:
        """Every MAL id reached from ``follows`` through prequel/parent links (cycles allowed)."""
        seen: set[int] = set()
        stack = [int(m) for m in follows]
        while stack:
            mal_id = stack.pop()
            if mal_id in seen:
                continue
            seen.add(mal_id)
            stack.extend(self.graph.get(mal_id, ()))
        return seen

    def earlier(self, follows: Sequence[int], when: float, own: int | None = None) -> list[Entry]:
        """The pool's earlier entries of an anime, oldest first."""
        entries = [
            self.pool[m] for m in self.ancestors(follows) if m in self.pool and m != own and self.pool[m].when < when
        ]
        return sorted(entries, key=lambda e: (e.when, e.mal_id))

    def related_earlier(
        self, related: Sequence[int], when: float, own: int | None = None, entries: Sequence[Entry] = ()
    ) -> list[Entry]:
        """The pool's related entries of an anime (direct links only) that started earlier and
        are not among its earlier entries ``entries``."""
        followed = {e.mal_id for e in entries}
        linked = {int(m) for m in related} - followed - {own}
        return sorted(
            (self.pool[m] for m in linked if m in self.pool and self.pool[m].when < when),
            key=lambda e: (e.when, e.mal_id),
        )

    def row(self, entries: Sequence[Entry], when: float, related: Sequence[Entry] = ()) -> list[float]:
        out = [0.0] * len(FRANCHISE_NAMES)
        if entries:
            last = entries[-1]
            since = min(when - last.when, YEARS_CAP) if math.isfinite(when) else YEARS_CAP
            out[:FOLLOW_COLUMNS] = [
                1.0,
                last.score - self.prior,
                float(np.mean([e.score for e in entries])) - self.prior,
                math.log1p(last.votes),
                math.log1p(len(entries)),
                since,
            ]
        if related:
            out[FOLLOW_COLUMNS:] = [
                1.0,
                float(np.mean([e.score for e in related])) - self.prior,
                math.log1p(len(related)),
            ]
        return out

    def transform(
        self,
        follows: Sequence[Sequence[int]],
        when: np.ndarray,
        mal_ids: Sequence[int] | None = None,
        related: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        own = list(mal_ids) if mal_ids is not None else [None] * len(when)
        linked = related if related is not None else [()] * len(when)
        rows = []
        for f, w, o, r in zip(follows, when, own, linked, strict=True):
            mine = None if o is None else int(o)
            entries = self.earlier(f, float(w), mine)
            rows.append(self.row(entries, float(w), self.related_earlier(r, float(w), mine, entries)))
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(FRANCHISE_NAMES))
