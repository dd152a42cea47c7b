from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import Anime
from catalog.services import tier_distribution, tier_thresholds_recompute
from catalog.tiers import TIER_ORDER, TierScheme


class Command(BaseCommand):
    help = (
        "Recompute the tier thresholds and re-tier every anime. --scheme quartiles cuts the "
        "catalogue's scores into quarters; --scheme seed uses the seed project's fixed cut-offs "
        "(7.20 / 7.60 / 8.10). Without --scheme the scheme in force is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scheme",
            choices=TierScheme.values,
            default=None,
            help="quartiles or seed (default: the scheme in force, quartiles when none is)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        thresholds, changed = tier_thresholds_recompute(scheme=options["scheme"])
        if thresholds is None:
            raise CommandError("Not enough scored anime to compute quartile tiers (need at least two).")

        out = self.stdout
        out.write(
            f"Thresholds ({thresholds.get_scheme_display()}), from {thresholds.scored_count:,} reliably rated anime:"
        )
        out.write(f"  Top-tier    >= {thresholds.top_tier_min:.2f}")
        out.write(f"  Worthwhile  >= {thresholds.worthwhile_min:.2f}")
        out.write(f"  Watchable   >= {thresholds.watchable_min:.2f}")
        out.write(f"  Terrible    <  {thresholds.watchable_min:.2f}")
        out.write(self.style.SUCCESS(f"{changed:,} anime changed tier."))

        distribution = tier_distribution()
        scored = sum(n for tier, n in distribution.items() if tier)
        out.write("Tier distribution:")
        for tier in TIER_ORDER:
            count = distribution.get(tier.value, 0)
            share = count / scored if scored else 0.0
            out.write(f"  {tier.label:<11} {count:>6,}  {share:6.1%}")
        # Untiered: a score on too few ratings (catalog/tiers.py), or no score at all.
        unscored = Anime.objects.filter(score__isnull=True).count()
        out.write(f"  {'No tier':<11} {distribution.get('', 0) - unscored:>6,}  not enough ratings yet")
        out.write(f"  {'No score':<11} {unscored:>6,}")
