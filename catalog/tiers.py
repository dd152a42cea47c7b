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
