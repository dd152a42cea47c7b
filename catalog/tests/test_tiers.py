from __future__ import annotations

import pytest

from catalog.models import Anime, TierThresholds
from catalog.services import tier_thresholds_recompute
from catalog.tiers import Cutoffs, Tier, TierScheme, cutoffs_compute


def test_it_cuts_scores_into_tiers_with_ties_going_up():
    cutoffs = Cutoffs(watchable=7.2, worthwhile=7.6, top_tier=8.1)

    assert cutoffs.tier_of(8.1) == Tier.TOP_TIER
    assert cutoffs.tier_of(8.09) == Tier.WORTHWHILE
    assert cutoffs.tier_of(7.6) == Tier.WORTHWHILE
    assert cutoffs.tier_of(7.2) == Tier.WATCHABLE
    assert cutoffs.tier_of(7.19) == Tier.TERRIBLE
    assert cutoffs.tier_of(None) is None


def test_it_computes_quartile_cutoffs():
    cutoffs = cutoffs_compute(scheme=TierScheme.QUARTILES, scores=[6.0, 7.0, 8.0, 9.0, 10.0])

    assert cutoffs == Cutoffs(7.0, 8.0, 9.0)


def test_it_offers_the_seed_cutoffs_by_name():
    assert cutoffs_compute(scheme=TierScheme.SEED, scores=[]) == Cutoffs(7.20, 7.60, 8.10)


def test_it_refuses_quartiles_of_too_few_scores():
    with pytest.raises(ValueError, match="at least two"):
        cutoffs_compute(scheme=TierScheme.QUARTILES, scores=[7.0])


def test_it_stores_the_catalogue_quartiles_in_force(catalog):
    thresholds = TierThresholds.objects.latest()
    # Quartiles of the reliably rated scores only (catalog/tiers.py: 8,053 of the 16,079 scored).
    scores = sorted(Anime.objects.reliably_rated().values_list("score", flat=True))

    assert thresholds.scheme == TierScheme.QUARTILES
    assert thresholds.scored_count == len(scores) == 8053
    assert (thresholds.watchable_min, thresholds.worthwhile_min, thresholds.top_tier_min) == (6.52, 7.01, 7.46)
    for tier in Tier:
        assert 0.2 <= Anime.objects.filter(tier=tier).count() / len(scores) <= 0.3
    # A score on too few ratings has no tier, whatever it is.
    few_ratings = Anime.objects.scored().filter(score_reliable=False)
    assert few_ratings.count() == 16_079 - 8_053
    assert set(few_ratings.values_list("tier", flat=True)) == {""}


def test_it_switches_to_the_seed_scheme_and_back(catalog):
    thresholds, changed = tier_thresholds_recompute(scheme=TierScheme.SEED)

    assert thresholds.cutoffs == Cutoffs(7.20, 7.60, 8.10)
    assert changed > 0
    assert Anime.objects.get(mal_id=5114).tier == Tier.TOP_TIER  # 9.10
    for anime in Anime.objects.reliably_rated().filter(score__gte=7.6, score__lt=8.1)[:50]:
        assert anime.tier == Tier.WORTHWHILE
    assert set(Anime.objects.scored().filter(score_reliable=False).values_list("tier", flat=True)) == {""}

    thresholds, changed_back = tier_thresholds_recompute(scheme=TierScheme.QUARTILES)
    assert thresholds.cutoffs == Cutoffs(6.52, 7.01, 7.46)
    assert changed_back == changed
    assert TierThresholds.objects.count() == 3


def test_it_does_not_store_a_new_row_when_nothing_changed(catalog):
    before = TierThresholds.objects.count()

    _, changed = tier_thresholds_recompute()

    assert changed == 0
    assert TierThresholds.objects.count() == before
