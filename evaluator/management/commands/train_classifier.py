from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.tiers import TIER_ORDER
from evaluator.features import DEFAULT_FEATURE_GROUPS, DEFAULT_TEXT_VARIANT, FEATURE_GROUPS, TEXT_VARIANTS
from evaluator.models import TrainingRun
from evaluator.predictor import artifact_usable
from evaluator.selectors import DESIGNS, run_group_rows, run_summary, training_run_running
from evaluator.services import RetrainInProgress, feature_ablation, training_run_train
from evaluator.training import BASELINES, FAMILIES, METRIC_KEYS, SELECTION_KEYS


class Command(BaseCommand):
    help = (
        "Train the tier classifier with nested selection: every candidate and baseline scored by "
        "franchise-grouped K-fold CV, a time split and a random split, the chosen model refitted on "
        "everything with its 90% conformal tier sets; record a TrainingRun and activate it when its "
        "grouped macro-F1 is not below the active run's. --ablation measures the optional feature groups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--no-activate", action="store_true", help="record the run but never activate it")
        parser.add_argument(
            "--candidates", default=",".join(FAMILIES), help=f"comma-separated subset of {', '.join(FAMILIES)}"
        )
        parser.add_argument(
            "--features",
            default=",".join(DEFAULT_FEATURE_GROUPS),
            help=f"optional feature groups, comma-separated, from {', '.join(FEATURE_GROUPS)} ('' for none)",
        )
        parser.add_argument(
            "--ablation",
            action="store_true",
            help="measure every optional feature group (all of them, then each left out) on the grouped CV and "
            "the time split; records no run",
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
        unknown = [c for c in candidates if c not in FAMILIES]
        if unknown or not candidates:
            raise CommandError(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
        features = [f.strip() for f in options["features"].split(",") if f.strip()]
        unknown = [f for f in features if f not in FEATURE_GROUPS]
        if unknown:
            raise CommandError(f"unknown feature group(s) {', '.join(unknown)}; known: {', '.join(FEATURE_GROUPS)}")
        if options["ablation"]:
            self.ablation(options)
            return
        if options["wait"]:
            shown = None
            while (running := training_run_running()) is not None:
                if running.pk != shown:
                    self.stdout.write(f"Waiting for training run {running.pk} to end …")
                    shown = running.pk
                time.sleep(2.0)
        active = TrainingRun.objects.active()
        if options["if_none_active"] and active is not None:
            if artifact_usable(active.artifact):
                self.stdout.write(f"Model run {active.pk} ({active.chosen}) is active: nothing to train.")
                return
            self.stdout.write(
                f"Model run {active.pk} is active but its file cannot be used (missing, or trained by an older "
                "version): training a new one."
            )
        as_json = options["json"]
        progress = None if as_json else (lambda line: self.stderr.write(line))
        try:
            run = training_run_train(
                triggered_by=TrainingRun.Trigger.COMMAND,
                folds=options["folds"],
                candidates=candidates,
                text_variant=options["text"],
                limit=options["limit"],
                features=features,
                activate=not options["no_activate"],
                progress=progress,
            )
        except RetrainInProgress as refused:
            raise CommandError(str(refused)) from None
        if as_json:
            self.stdout.write(json.dumps(run_summary(run)))
            return
        self.print_report(run)

    def ablation(self, options: dict[str, Any]) -> None:
        rows = feature_ablation(
            folds=options["folds"],
            text_variant=options["text"],
            limit=options["limit"],
            progress=None if options["json"] else (lambda line: self.stderr.write(line)),
        )
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        self.stdout.write(
            f"{'features':<44} {'design':<8} " + " ".join(f"{k:>10}" for k in (*SELECTION_KEYS, "criterion"))
        )
        for row in rows:
            for design in ("grouped", "time"):
                m = row[design]
                values = " ".join(f"{m[k]:>10.3f}" for k in (*SELECTION_KEYS, "criterion"))
                self.stdout.write(f"{row['name']:<44} {design:<8} {values}")
        self.stdout.write("\nA group is kept when leaving it out lowers the criterion on the time split:")
        for row in rows[1:]:
            self.stdout.write(f"  {row['left_out']:<12} {'keep' if row['keep'] else 'drop'}")

    def print_report(self, run: TrainingRun) -> None:
        designs = run.designs or {}
        keys = METRIC_KEYS
        self.stdout.write(
            f"{'model':<14} {'design':<8} " + " ".join(f"{k:>10}" for k in keys) + f" {'cover90':>8} {'size90':>7}"
        )
        models = [*FAMILIES, "selected", *BASELINES]
        for name in models:
            for design in DESIGNS:
                data = designs.get(design)
                if not data or name not in data["metrics"]:
                    continue
                m = data["metrics"][name]
                values = " ".join(f"{m[k]:>10.3f}" for k in keys)
                sets = (data["sets"].get(name) or {}).get("0.9")
                cover = f" {sets['coverage']:>8.3f} {sets['mean_size']:>7.2f}" if sets else ""
                self.stdout.write(f"{name:<14} {design:<8} {values}{cover}")
        time_split = designs.get("time")
        if time_split:
            self.stdout.write(
                f"\nTime split: trained on {time_split['train']} anime before {time_split['cut_year']}, "
                f"tested on {time_split['test']} from {time_split['cut_year']} on."
            )
        self.stdout.write(
            f"Chosen: {run.chosen} (run {run.pk}, {'active' if run.is_active else 'not activated'}): "
            + ", ".join(f"{k} {v}" for k, v in run.params.items())
        )
        for design in DESIGNS:
            rows = run_group_rows(run, design=design)
            if not rows:
                continue
            self.stdout.write(f"\nBy group, {design}:")
            self.stdout.write(
                f"{'group':<38} {'n':>5} {'model':<26} "
                + " ".join(f"{k:>10}" for k in SELECTION_KEYS)
                + f" {'cover90':>8} {'size90':>7}"
            )
            for row in rows:
                values = " ".join(f"{getattr(row, k):>10.3f}" for k in SELECTION_KEYS)
                sets = f" {row.coverage:>8.3f} {row.mean_size:>7.2f}" if row.coverage is not None else ""
                self.stdout.write(f"{row.group_label:<38} {row.count:>5} {row.model_label:<26} {values}{sets}")
        labels = [t.label for t in TIER_ORDER]
        self.stdout.write("\nChosen model: confusion matrix, grouped CV (rows: true tier; columns: predicted)")
        self.stdout.write(" " * 12 + "".join(f"{label:>12}" for label in labels))
        for label, row in zip(labels, run.confusion_matrix, strict=True):
            self.stdout.write(f"{label:<12}" + "".join(f"{v:>12}" for v in row))
        phases = {k: v for k, v in (run.phases or {}).items() if not isinstance(v, dict)}
        self.stdout.write("\nPhases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
        self.stdout.write(f"Artifact: var/models/{run.artifact} ({run.duration_seconds:.0f} s)")
