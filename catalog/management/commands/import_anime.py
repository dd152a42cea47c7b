from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.services import anime_import_recorded, tier_distribution


class Command(BaseCommand):
    help = (
        "Import anime from catalogue files or folders (seed output.json, Jikan v4 objects, "
        "flattened Jikan season dumps, the anime-mapper catalogue, dated member estimates). "
        "Idempotent; bad records are skipped and counted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files or folders to import")
        parser.add_argument(
            "--min-members",
            type=int,
            default=settings.CATALOG_MIN_MEMBERS,
            help=f"keep anime with at least this many members (default {settings.CATALOG_MIN_MEMBERS:,}: CATALOG_MIN_MEMBERS)",
        )
        parser.add_argument(
            "--min-scored-by", type=int, default=0, help="keep anime scored by at least this many users (default 0)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[Path] = options["paths"]
        for path in paths:
            if not path.exists():
                raise CommandError(f"{path} does not exist: pass a catalogue file or folder")
        if options["min_members"] < 0 or options["min_scored_by"] < 0:
            raise CommandError("--min-members and --min-scored-by must be >= 0")

        bar: tqdm | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="anime", desc="Importing", file=self.stderr._out, disable=None)
            bar.update(done - bar.n)

        try:
            summary = anime_import_recorded(
                paths=paths,
                min_members=options["min_members"],
                min_scored_by=options["min_scored_by"],
                progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()

        out = self.stdout
        out.write(f"Read {summary.read:,} records")
        out.write(
            self.style.SUCCESS(
                f"created {summary.created:,}, updated {summary.updated:,}, unchanged {summary.unchanged:,}, "
                f"skipped {summary.skipped_total:,}"
            )
        )
        for reason, count in sorted(summary.skipped.items()):
            out.write(f"  skipped ({reason}): {count:,}")
        for reason, count in sorted(summary.filtered.items()):
            out.write(f"  filtered out ({reason}): {count:,}")
        out.write(f"Franchise keys from the related-anime graph: {summary.franchises_changed:,} changed")
        if summary.thresholds is not None:
            out.write(f"Tier thresholds: {summary.thresholds} ({summary.tiers_changed:,} anime changed tier)")
            dist = tier_distribution()
            total = sum(dist.values()) or 1
            out.write(
                "Tiers: "
                + ", ".join(f"{name or 'none'} {count:,} ({count / total:.0%})" for name, count in sorted(dist.items()))
            )
