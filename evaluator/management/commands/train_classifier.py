from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.tiers import TIER_ORDER
from evaluator.features import DEFAULT_TEXT_VARIANT, TEXT_VARIANTS
from evaluator.models import TrainingRun
from evaluator.selectors import training_run_running
from evaluator.services import RetrainInProgress, training_run_train
from evaluator.training import CANDIDATES, METRIC_KEYS


class Command(BaseCommand):
    help = (
        "Train the tier classifier: every candidate by franchise-grouped K-fold CV (random-split "
        "figures beside), refit the best on everything, record a TrainingRun, activate it when its "
        "grouped macro-F1 is not below the active run's."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--no-activate", action="store_true", help="record the run but never activate it")
        parser.add_argument(
            "--candidates", default=",".join(CANDIDATES), help=f"comma-separated subset of {', '.join(CANDIDATES)}"
        )
        parser.add_argument("--text", choices=TEXT_VARIANTS, default=DEFAULT_TEXT_VARIANT, help="text that is embedded")
        parser.add_argument("--limit", type=int, default=None, help="train on the first N scored anime (quick runs)")
        parser.add_argument(
            "--if-none-active",
            action="store_true",
            help="do nothing when a trained model is already active (what `make run` uses)",
        )
        parser.add_argument("--wait", action="store_true", help="when another training runs, wait for it to end first")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["folds"] < 2:
            raise CommandError("--folds must be at least 2")
        candidates = [c.strip() for c in options["candidates"].split(",") if c.strip()]
        unknown = [c for c in candidates if c not in CANDIDATES]
        if unknown or not candidates:
            raise CommandError(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
        if options["wait"]:
            shown = None
            while (running := training_run_running()) is not None:
                if running.pk != shown:
                    self.stdout.write(f"Waiting for training run {running.pk} to end …")
                    shown = running.pk
                time.sleep(2.0)
        active = TrainingRun.objects.active()
        if options["if_none_active"] and active is not None:
            self.stdout.write(f"Model run {active.pk} ({active.chosen}) is active: nothing to train.")
            return
        as_json = options["json"]
        progress = None if as_json else (lambda line: self.stderr.write(line))
        try:
            run = training_run_train(
                triggered_by=TrainingRun.Trigger.COMMAND,
                folds=options["folds"],
                candidates=candidates,
                text_variant=options["text"],
                limit=options["limit"],
                activate=not options["no_activate"],
                progress=progress,
            )
        except RetrainInProgress as refused:
            raise CommandError(str(refused)) from None
        if as_json:
            self.stdout.write(json.dumps(run_summary(run)))
            return
        self.print_report(run)

    def print_report(self, run: TrainingRun) -> None:
        header = f"{'candidate':<12} {'split':<8} " + " ".join(f"{k:>10}" for k in METRIC_KEYS)
        self.stdout.write(header)
        for name, result in run.candidates.items():
            for split in ("grouped", "random"):
                values = " ".join(f"{result[split][k]:>10.3f}" for k in METRIC_KEYS)
                marker = " *" if name == run.chosen and split == "grouped" else ""
                self.stdout.write(f"{name:<12} {split:<8} {values}{marker}")
        values = " ".join(f"{run.baseline[k]:>10.3f}" for k in METRIC_KEYS)
        self.stdout.write(f"{'majority':<12} {'grouped':<8} {values}")
        self.stdout.write(f"\nChosen: {run.chosen} (run {run.pk}, {'active' if run.is_active else 'not activated'})")
        labels = [t.label for t in TIER_ORDER]
        for name, result in run.candidates.items():
            chosen = " (chosen)" if name == run.chosen else ""
            self.stdout.write(f"\n{name}{chosen}: confusion matrix, grouped CV (rows: true tier; columns: predicted)")
            self.stdout.write(" " * 12 + "".join(f"{label:>12}" for label in labels))
            for label, row in zip(labels, result["confusion_matrix"], strict=True):
                self.stdout.write(f"{label:<12}" + "".join(f"{v:>12}" for v in row))
        self.stdout.write(f"Artifact: var/models/{run.artifact} ({run.duration_seconds:.0f} s)")


def run_summary(run: TrainingRun) -> dict[str, object]:
    return {
        "chosen": run.chosen,
        "grouped": run.metrics["grouped"],
        "random": run.metrics["random"],
        "candidates": {name: {"grouped": c["grouped"], "random": c["random"]} for name, c in run.candidates.items()},
        "run_id": run.pk,
        "active": run.is_active,
        "baseline": run.baseline,
        "confusion_matrix": run.confusion_matrix,
    }
