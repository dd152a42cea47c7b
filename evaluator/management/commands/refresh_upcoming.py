"""Predict the catalogue's upcoming anime (no score yet) with the active model and store the
predictions the upcoming page and API show (``evaluator.upcoming.services.upcoming_refresh``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluator.upcoming.services import upcoming_refresh


class Command(BaseCommand):
    help = "Predict the tier and score of every catalogue anime with no score yet with the active model."

    def handle(self, *args: Any, **options: Any) -> None:
        bar: tqdm | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="anime", desc="Predicting", file=self.stderr._out, disable=None)
            bar.update(done - bar.n)

        try:
            result = upcoming_refresh(progress=progress)
        finally:
            if bar is not None:
                bar.close()
        if result.skipped:
            raise CommandError(f"Nothing predicted: {result.skipped}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.predicted:,} upcoming anime predicted with run {result.run_id} in {result.seconds:.1f} s "
                f"({result.removed:,} earlier predictions replaced)."
            )
        )
