"""The training set: every scored catalogue anime with its features, tier label and franchise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.models import Anime, Genre
from catalog.tiers import Cutoffs
from evaluator.features import AnimeInput, FeatureSpec, embed_inputs, embedding_label, feature_matrix
from evaluator.training import TrainingData, tier_labels


def anime_input(anime: Anime) -> AnimeInput:
    return AnimeInput(
        synopsis=anime.synopsis or anime.title,
        genres=tuple(sorted(g.name for g in anime.genres.all())),
        type=anime.type,
        source=anime.source,
        episodes=anime.episodes,
        year=anime.year,
    )


@dataclass
class Dataset:
    data: TrainingData
    spec: FeatureSpec
    embeddings: np.ndarray  # float32, L2-normalised, one row per training anime
    inputs: list[AnimeInput]


def dataset_build(*, cutoffs: Cutoffs, text_variant: str, limit: int | None = None) -> Dataset:
    """Features of every scored anime (ordered by MAL id; ``limit`` keeps the first ones, for
    quick runs). Embeddings come through the search app's cache, so a second training embeds
    nothing."""
    queryset = Anime.objects.scored().prefetch_related("genres").order_by("mal_id")
    if limit:
        queryset = queryset[:limit]
    anime = list(queryset)
    inputs = [anime_input(a) for a in anime]
    label, dimension = embedding_label()
    spec = FeatureSpec.from_inputs(
        inputs,
        genres=Genre.objects.values_list("name", flat=True),
        text_variant=text_variant,
        embedding=label,
        dimension=dimension,
    )
    embeddings = embed_inputs(inputs, spec)
    scores = np.array([a.score for a in anime], dtype=np.float64)
    data = TrainingData(
        X=feature_matrix(inputs, spec, embeddings),
        y=tier_labels(scores, cutoffs),
        scores=scores,
        groups=np.array([a.franchise_key or f"mal-{a.mal_id}" for a in anime]),
        mal_ids=np.array([a.mal_id for a in anime], dtype=np.int64),
        cutoffs=cutoffs,
        embedding_dims=int(embeddings.shape[1]),
    )
    return Dataset(data=data, spec=spec, embeddings=embeddings.astype(np.float32), inputs=inputs)
