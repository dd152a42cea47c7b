"""The quality tier rule: one place that turns a score into Top-tier/Worthwhile/Watchable/Terrible."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models


class Tier(models.TextChoices):
    TOP_TIER = "top-tier", "Top-tier"
    WORTHWHILE = "worthwhile", "Worthwhile"
    WATCHABLE = "watchable", "Watchable"
    TERRIBLE = "terrible", "Terrible"


# Best first; evaluator label ids follow this order (0 = Top-tier … 3 = Terrible).
TIER_ORDER: tuple[Tier, ...] = (Tier.TOP_TIER, Tier.WORTHWHILE, Tier.WATCHABLE, Tier.TERRIBLE)


class TierScheme(models.TextChoices):
    QUARTILES = "quartiles", "Quartiles of the catalogue's scores"
    SEED = "seed", "Seed project's fixed cut-offs (7.20 / 7.60 / 8.10)"


SEED_CUTOFFS = (7.20, 7.60, 8.10)


@dataclass(frozen=True)
class Cutoffs:
    """Lowest score of Watchable, Worthwhile and Top-tier; anything lower is Terrible."""

    watchable: float
    worthwhile: float
    top_tier: float

    def tier_of(self, score: float | None) -> Tier | None:
        if score is None:
            return None
        if score >= self.top_tier:
            return Tier.TOP_TIER
        if score >= self.worthwhile:
            return Tier.WORTHWHILE
        if score >= self.watchable:
            return Tier.WATCHABLE
        return Tier.TERRIBLE

    def lower_bound(self, tier: Tier) -> float | None:
        return {
            Tier.TOP_TIER: self.top_tier,
            Tier.WORTHWHILE: self.worthwhile,
            Tier.WATCHABLE: self.watchable,
            Tier.TERRIBLE: None,
        }[Tier(tier)]


def cutoffs_compute(*, scheme: str, scores: Iterable[float]) -> Cutoffs:
    """Cut-offs for a scheme. Quartiles need at least two scores; ties at a cut go up a tier."""
    if scheme == TierScheme.SEED:
        return Cutoffs(*SEED_CUTOFFS)
    if scheme != TierScheme.QUARTILES:
        raise ValueError(f"unknown tier scheme {scheme!r}")
    values = sorted(float(s) for s in scores)
    if len(values) < 2:
        raise ValueError("quartile tiers need at least two scored anime")
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Cutoffs(round(q1, 2), round(q2, 2), round(q3, 2))


# A score is tiered only when it rests on enough ratings: with a spread of about 1.5 points
# between raters, 1,000 ratings put a score within ±0.1 of where more would (95%), well inside a
# tier's width (~0.4 points); a few dozen do not. Many anime have no recent rating count, only a
# member count (or an old count: counts only grow), so the rule reads the larger of the rating
# count and a third of the members (of an anime's 3,000-10,000 members a median 0.39 rated it,
# measured on the 2018 estimates: a third is on the safe side).
RELIABLE_RATINGS = 1_000
MEMBERS_PER_RATING = 3


def ratings_estimate(scored_by: int | None, members: int | None) -> int:
    """The ratings a score rests on, as the reliability rule counts them."""
    return max(scored_by or 0, (members or 0) // MEMBERS_PER_RATING)


def reliably_rated(score: float | None, scored_by: int | None, members: int | None) -> bool:
    """Whether a score is tiered (see ``RELIABLE_RATINGS``); the others show "not enough ratings yet"."""
    return score is not None and ratings_estimate(scored_by, members) >= RELIABLE_RATINGS
