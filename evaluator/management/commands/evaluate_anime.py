from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.tiers import TIER_ORDER, Tier
from evaluator.inputs import EvaluationInputError
from evaluator.serializers import evaluation_data
from evaluator.services import ModelUnavailable, evaluation_create


class Command(BaseCommand):
    help = 'Evaluate an anime: manage.py evaluate_anime --synopsis "…" --genre Action --genre Drama [--type TV]'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--synopsis", required=True)
        parser.add_argument("--genre", action="append", default=[], help="repeatable")
        parser.add_argument("--type", default="")
        parser.add_argument("--source", default="")
        parser.add_argument("--episodes", default="")
        parser.add_argument("--year", default="")
        parser.add_argument("--studio", action="append", default=[], help="repeatable")
        parser.add_argument("--rating", default="", help="age rating, e.g. 'PG-13 - Teens 13 or older'")
        parser.add_argument("--duration", default="", help="minutes per episode")
        parser.add_argument("--season", default="", help="winter, spring, summer or fall")
        parser.add_argument("--sequel-of", default="", help="MAL id of the catalogue anime it directly follows")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        fields = ("synopsis", "type", "source", "episodes", "year", "rating", "duration", "season", "sequel_of")
        data = {name: options[name] for name in fields}
        data["genres"] = options["genre"]
        data["studios"] = options["studio"]
        try:
            result = evaluation_create(data=data)
        except EvaluationInputError as error:
            raise CommandError(str(error)) from None
        except ModelUnavailable as error:
            raise CommandError(str(error)) from None
        evaluation = result.evaluation
        if options["json"]:
            self.stdout.write(json.dumps(evaluation_data(evaluation), default=str))
            return
        self.stdout.write(f"Tier: {Tier(evaluation.tier).label}   predicted score: {evaluation.predicted_score:.2f}")
        for tier in TIER_ORDER:
            p = evaluation.probabilities.get(tier.value, 0.0)
            self.stdout.write(f"  {tier.label:<11} {p:6.1%} {'#' * round(p * 40)}")
        if evaluation.tier_set:
            self.stdout.write(f"{evaluation.tier_set_level:.0%} tier set: {evaluation.tier_set_text}")
        if evaluation.reasons:
            self.stdout.write("Reasons (effect on the predicted score):")
            for reason in evaluation.reasons[:8]:
                self.stdout.write(f"  {reason['effect']:+.3f}  {reason['label']}")
        self.stdout.write("Nearest catalogue anime:")
        for n in evaluation.neighbours:
            score = f"{n['score']:.2f}" if n["score"] is not None else "–"
            self.stdout.write(f"  {n['mal_id']:>6}  {score:>5}  {n['tier'] or '-':<11} {n['title']}")
        self.stdout.write(f"Comment ({evaluation.comment_source}): {evaluation.comment}")
        self.stdout.write(
            f"Model run {evaluation.run_id}; stored as {evaluation.pk}{'' if result.created else ' (cached)'}"
        )
