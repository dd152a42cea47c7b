"""One popularity estimate per anime: how many members it has today, known or estimated.

Three cases, one number (``estimated_members``):

* a current count (MyAnimeList's own, ``members_estimated`` false): taken as it is;
* a dated estimate (a third-party data set of 2018-05 or 2025-01): scaled to today by the growth
  measured on the anime that have two counts. In ../shared/data/members/estimates.csv, 4,713 anime
  have both a 2018 and a 2025 row: the median ratio is 2.03, and it depends on size (``GROWTH_2018``:
  2.33 under 10,000 members, 1.67 for 10-30k, 1.70 for 30-100k, 1.92 for 100-300k, 2.33 above;
  quartiles about 0.3 either side in the middle bands, wider for the small). From 2025-01 to the
  current counts (2026-02, 2,410 anime with both) the median is 1.04 in every band;
* no count at all: estimated from what the catalogue knows of every anime (``features``): how many
  other-language titles and synonyms it has, whether it has an English title, a score (and its
  value), a synopsis, tags, studios, episode titles; its year, type and episode count. A least-squares
  fit of log10(members) on those, over the 14,338 anime with a count (current, and dated ones scaled
  as above): five-fold cross-validated median absolute error 0.38 in log10 (a factor ~2.4) on the
  current counts, 0.36 on the dated ones. Fitted on the current counts alone (the popular slice) it
  extrapolates badly to the tail (0.55 median error on the dated ones), hence the wider fit.
  ``scored_by`` is never present where members are unknown, so it is not a feature.

``fit`` recomputes the coefficients from the database (``manage.py shell -c "from catalog.popularity
import fit; print(fit())"``); ``COEFFICIENTS`` holds its last result, so an index build needs no fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from catalog.vocabulary import ANIME_TYPES

# Growth from a 2018-05 count to today, by the count's size: (upper bound, factor). Median ratio
# 2018 -> 2025-01 per band times the 1.04 of 2025-01 -> 2026-02.
GROWTH_2018: tuple[tuple[float, float], ...] = (
    (10_000, 2.33 * 1.04),
    (30_000, 1.67 * 1.04),
    (100_000, 1.70 * 1.04),
    (300_000, 1.92 * 1.04),
    (math.inf, 2.33 * 1.04),
)
GROWTH_2025 = 1.04

FEATURE_NAMES: tuple[str, ...] = (
    "intercept",
    "other_titles",
    "synonyms",
    "english_title",
    "has_score",
    "score",
    "no_year",
    "decade",
    "decade_squared",
    "log_episodes",
    "synopsis",
    "tags",
    "studios",
    "log_episode_titles",
    *(f"type_{t}" for t in ANIME_TYPES),
)

# log10(members) = COEFFICIENTS . features, fitted by ``fit`` on the whole catalogue (2026-12).
COEFFICIENTS: tuple[float, ...] = (
    1.925, 0.174, 0.018, 0.341, 0.718, 0.318, -0.427, 0.216, 0.028, -0.246, 0.294, 0.811, 0.339, 0.311,
    0.25, -0.07, -0.024, -0.259, 0.158, 0.0, 0.0, 0.0,
)  # fmt: skip


def features(anime) -> list[float]:
    year = anime.year or 0
    decade = (year - 2005) / 10 if year else 0.0
    return [
        1.0,
        float(len(anime.title_other or [])),
        float(min(len(anime.title_synonyms or []), 5)),
        1.0 if anime.title_english else 0.0,
        1.0 if anime.score else 0.0,
        (anime.score - 6.5) if anime.score else 0.0,
        0.0 if year else 1.0,
        decade,
        decade * decade,
        math.log10(anime.episodes or 1),
        1.0 if anime.synopsis else 0.0,
        min(len(anime.tags.all()), 20) / 10,
        1.0 if anime.studios else 0.0,
        math.log10(1 + len(anime.episode_titles or [])),
        *(1.0 if anime.type == t else 0.0 for t in ANIME_TYPES),
    ]


def scaled_count(anime) -> float | None:
    """The known count scaled to today, or None where none is known."""
    members = anime.members
    if not members:
        return None
    if not anime.members_estimated or anime.members_as_of is None:
        return float(members)
    if anime.members_as_of.year <= 2018:
        return members * next(factor for bound, factor in GROWTH_2018 if members < bound)
    return members * GROWTH_2025


def predicted_members(anime, coefficients: Iterable[float] = COEFFICIENTS) -> float:
    return 10 ** sum(c * f for c, f in zip(coefficients, features(anime), strict=False))


def estimated_members(anime) -> int:
    """Members today: the current count, a dated one scaled, or the fit's estimate."""
    known = scaled_count(anime)
    return round(known if known is not None else predicted_members(anime))


def fit(folds: int = 5) -> dict[str, object]:
    """Least squares of log10(members) on ``features`` over every anime with a count; returns the
    coefficients and the cross-validated median absolute error (log10) on current and dated counts."""
    import numpy as np

    from catalog.models import Anime

    rows, target, current = [], [], []
    for anime in Anime.objects.filter(members__gt=0).prefetch_related("tags"):
        rows.append(features(anime))
        target.append(math.log10(scaled_count(anime)))
        current.append(not anime.members_estimated)
    x, y, is_current = np.array(rows), np.array(target), np.array(current)
    order = np.random.default_rng(0).permutation(len(y))
    errors = np.zeros(len(y))
    for part in np.array_split(order, folds):
        train = np.setdiff1d(order, part)
        coef, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
        errors[part] = np.abs(x[part] @ coef - y[part])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {
        "coefficients": [round(float(c), 3) for c in coef],
        "median_error_current": round(float(np.median(errors[is_current])), 3),
        "median_error_dated": round(float(np.median(errors[~is_current])), 3),
        "n": len(y),
    }
