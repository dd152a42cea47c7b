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
    neighbours = NeighbourSerializer(many=True)
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
        },
        "created_at": evaluation.created_at,
    }
