"""Shapes of the evaluate API's answers. The request is ``evaluator.inputs.EvaluateInputSerializer``
(which validates the page, the API and the command alike)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from catalog.tiers import TIER_ORDER, Tier
from evaluator.inputs import EvaluateInputSerializer
from evaluator.models import Evaluation


class NeighbourSerializer(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()
    score = serializers.FloatField(allow_null=True, help_text="Real MyAnimeList score.")
    tier = serializers.CharField(allow_blank=True)
    similarity = serializers.FloatField(help_text="Cosine similarity of the synopses' embeddings.")
    url = serializers.CharField(help_text="Detail page.")
    api_url = serializers.CharField()


class TierSetSerializer(serializers.Serializer):
    tiers = serializers.ListField(
        child=serializers.ChoiceField(choices=Tier.choices), help_text="Adjacent tiers, best first."
    )
    labels = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField(help_text='As a reader says it, e.g. "Worthwhile or Top-tier".')
    level = serializers.FloatField(
        help_text="The share of unseen anime whose true tier such sets held (split-conformal prediction)."
    )


class EvaluationReasonSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='Which input: "synopsis", "genre:<name>", "studio", "neighbours", "type", …')
    label = serializers.CharField()
    effect = serializers.FloatField(
        help_text="Predicted score minus the prediction with this input at the catalogue's average."
    )


class SequelOfSerializer(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="Detail page.")


class EvaluationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="The result page.")
    api_url = serializers.CharField()
    tier = serializers.ChoiceField(choices=Tier.choices)
    tier_label = serializers.CharField()
    probabilities = serializers.DictField(
        child=serializers.FloatField(), help_text="Probability of each tier, best tier first: " + ", ".join(TIER_ORDER)
    )
    predicted_score = serializers.FloatField()
    tier_set = TierSetSerializer(allow_null=True, help_text="Null for evaluations made before tier sets existed.")
    reasons = EvaluationReasonSerializer(
        many=True, help_text="The inputs that moved the predicted score most, strongest first."
    )
    neighbours = NeighbourSerializer(many=True)
    sequel_of = SequelOfSerializer(allow_null=True, help_text="The catalogue anime it follows, when one was given.")
    genre_effects = serializers.DictField(
        child=serializers.FloatField(), help_text="Each given genre's effect on the predicted score."
    )
    comment = serializers.CharField()
    comment_source = serializers.ChoiceField(choices=["offline", "gemini"])
    comment_final = serializers.BooleanField(help_text="False while the Gemini comment is on its way.")
    run_id = serializers.IntegerField(help_text="The training run (model) that answered.")
    input = EvaluateInputSerializer()
    created_at = serializers.DateTimeField()


def evaluation_data(evaluation: Evaluation, request: Any = None) -> dict[str, Any]:
    def absolute(path: str) -> str:
        return request.build_absolute_uri(path) if request is not None else path

    return {
        "id": evaluation.pk,
        "url": absolute(evaluation.get_absolute_url()),
        "api_url": absolute(reverse("api-evaluation-detail", kwargs={"pk": evaluation.pk})),
        "tier": evaluation.tier,
        "tier_label": Tier(evaluation.tier).label,
        "probabilities": evaluation.probabilities,
        "predicted_score": evaluation.predicted_score,
        "tier_set": (
            {
                "tiers": evaluation.tier_set,
                "labels": evaluation.tier_set_labels,
                "text": evaluation.tier_set_text,
                "level": evaluation.tier_set_level,
            }
            if evaluation.tier_set
            else None
        ),
        "reasons": evaluation.reasons,
        "neighbours": [
            {
                "mal_id": n["mal_id"],
                "title": n["title"],
                "score": n["score"],
                "tier": n["tier"],
                "similarity": n["similarity"],
                "url": absolute(reverse("catalog:anime-detail", kwargs={"mal_id": n["mal_id"]})),
                "api_url": absolute(reverse("api-anime-detail", kwargs={"mal_id": n["mal_id"]})),
            }
            for n in evaluation.neighbours
        ],
        "sequel_of": (
            {
                "mal_id": evaluation.sequel_of.mal_id,
                "title": evaluation.sequel_of.display_title,
                "url": absolute(evaluation.sequel_of.get_absolute_url()),
            }
            if evaluation.sequel_of
            else None
        ),
        "genre_effects": evaluation.genre_effects,
        "comment": evaluation.comment,
        "comment_source": evaluation.comment_source,
        "comment_final": evaluation.comment_final,
        "run_id": evaluation.run_id,
        "input": {
            "synopsis": evaluation.synopsis,
            "genres": evaluation.genres,
            "type": evaluation.type,
            "source": evaluation.source,
            "episodes": evaluation.episodes,
            "year": evaluation.year,
            "studios": evaluation.studios,
            "rating": evaluation.rating,
            "duration": evaluation.duration,
            "season": evaluation.season,
            "sequel_of": evaluation.sequel_of_id,
        },
        "created_at": evaluation.created_at,
    }


class MetricsSerializer(serializers.Serializer):
    accuracy = serializers.FloatField()
    macro_f1 = serializers.FloatField()
    within_one = serializers.FloatField(help_text="Share predicted at most one tier away.")
    spearman = serializers.FloatField(help_text="Rank correlation of predicted and true scores.")
    ece = serializers.FloatField(help_text="Expected calibration error of the top probability.")


class DesignsSerializer(serializers.Serializer):
    grouped = MetricsSerializer(help_text="Franchise-grouped K-fold CV.")
    time = MetricsSerializer(allow_null=True, help_text="Time split: trained before the cut year, tested from it on.")
    random = MetricsSerializer(help_text="Random K-fold split (sequels leak across it).")


class ModelReportSerializer(DesignsSerializer):
    """The chosen model (nested selection) under each design (``grouped``, ``time``, ``random``),
    and the rest of the report."""

    run_id = serializers.IntegerField()
    active = serializers.BooleanField()
    chosen = serializers.CharField(help_text="The family the nested selection chose on all the data.")
    params = serializers.DictField(help_text="The deployed configuration.")
    selection = serializers.DictField(help_text="The selection criterion and each split's winners.")
    candidates = serializers.DictField(child=serializers.DictField(), help_text="Every family, per design.")
    baselines = serializers.DictField(child=DesignsSerializer(), help_text="Majority tier and the seed's model.")
    time_split = serializers.DictField(help_text="cut_year, train and test counts.")
    tier_sets = serializers.DictField(help_text="Coverage and mean size of the 90% sets (time split, grouped CV).")
    phases = serializers.DictField(help_text="Seconds per training phase.")
    baseline = serializers.DictField(help_text="Majority tier, grouped CV (kept for older clients).")
    confusion_matrix = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
