"""``manage.py recompute_tiers`` on the real catalogue."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime, TierThresholds
from catalog.tiers import TIER_ORDER, Tier, TierScheme, cutoffs_compute
from testsupport.catalog import catalogue_empty

pytestmark = pytest.mark.usefixtures("catalog")


def run(*args: str) -> str:
    out = StringIO()
    call_command("recompute_tiers", *args, stdout=out)
    return out.getvalue()


def distribution_lines() -> list[str]:
    counts = {tier: Anime.objects.filter(tier=tier).count() for tier in TIER_ORDER}
    tiered = sum(counts.values())
    lines = [f"  {tier.label:<11} {counts[tier]:>6,}  {counts[tier] / tiered:6.1%}" for tier in TIER_ORDER]
    few_ratings = Anime.objects.scored().filter(score_reliable=False).count()
    return [
        *lines,
        f"  {'No tier':<11} {few_ratings:>6,}  not enough ratings yet",
        f"  {'No score':<11} {Anime.objects.filter(score=None).count():>6,}",
    ]


def test_it_switches_to_the_seed_cutoffs_and_prints_them(catalog: None) -> None:
    output = run("--scheme", "seed")

    latest = TierThresholds.objects.latest()
    assert latest.scheme == TierScheme.SEED
    assert latest.cutoffs == cutoffs_compute(scheme=TierScheme.SEED, scores=[])
    # The cut-offs come from the reliably rated anime only (8,053 of the 16,079 scored).
    reliable = Anime.objects.reliably_rated().count()
    assert (reliable, Anime.objects.scored().count()) == (8_053, 16_079)
    lines = output.splitlines()
    assert lines[:5] == [
        f"Thresholds (Seed project's fixed cut-offs (7.20 / 7.60 / 8.10)), from {reliable:,} reliably rated anime:",
        "  Top-tier    >= 8.10",
        "  Worthwhile  >= 7.60",
        "  Watchable   >= 7.20",
        "  Terrible    <  7.20",
    ]
    assert lines[5].endswith(" anime changed tier.") and int(lines[5].split()[0].replace(",", "")) > 0
    assert lines[6:] == ["Tier distribution:", *distribution_lines()]
    # A real row scored 8.0 (Yahari Ore no Seishun Love Comedy wa Machigatteiru.) drops to Worthwhile.
    assert Anime.objects.get(mal_id=14813).score == 8.0
    assert Anime.objects.get(mal_id=14813).tier == Tier.WORTHWHILE


def test_it_keeps_the_scheme_in_force_and_changes_nothing_on_a_rerun(catalog: None) -> None:
    run("--scheme", "seed")
    rows = TierThresholds.objects.count()

    output = run()

    assert "0 anime changed tier." in output
    assert "(Seed project's fixed cut-offs" in output
    assert TierThresholds.objects.count() == rows  # same cut-offs: no new history row


def test_it_returns_to_quartiles_of_about_a_quarter_each(catalog: None) -> None:
    run("--scheme", "seed")

    output = run("--scheme", "quartiles")

    latest = TierThresholds.objects.latest()
    assert latest.scheme == TierScheme.QUARTILES
    assert (latest.top_tier_min, latest.worthwhile_min, latest.watchable_min) == (7.46, 7.01, 6.52)
    assert "  Top-tier    >= 7.46" in output
    assert output.splitlines()[-6:] == distribution_lines()
    reliable = Anime.objects.reliably_rated().count()
    for tier in TIER_ORDER:
        assert 0.20 <= Anime.objects.filter(tier=tier).count() / reliable <= 0.30, tier


def test_it_rejects_an_unknown_scheme(catalog: None) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'deciles'"):
        call_command("recompute_tiers", "--scheme", "deciles")


def test_it_fails_clearly_without_enough_scores(db: None) -> None:
    catalogue_empty()
    with pytest.raises(CommandError, match="Not enough scored anime"):
        run("--scheme", "quartiles")
