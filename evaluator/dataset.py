"""The training set: every scored catalogue anime with its features, tier label and franchise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from catalog.models import Anime, Genre
from catalog.selectors import anime_follows_graph, anime_related_graph
from catalog.tiers import Cutoffs
from evaluator.features import (
    DEFAULT_FEATURE_GROUPS,
    AnimeInput,
    FeatureSpec,
    duration_minutes,
    embed_inputs,
    embedding_label,
    feature_matrix,
)
from evaluator.records import RECORD_GROUPS, RecordRows
from evaluator.training import TrainingData, tier_labels


def anime_input(
    anime: Anime,
    graph: Mapping[int, tuple[int, ...]] | None = None,
    related: Mapping[int, tuple[int, ...]] | None = None,
) -> AnimeInput:
    """The evaluator's view of a catalogue anime; ``graph`` (``anime_follows_graph()``) gives the
    entries it directly follows and ``related`` (``anime_related_graph()``) the ones linked to it
    otherwise (each read here when not given)."""
    follows = (graph if graph is not None else anime_follows_graph()).get(anime.mal_id, ())
    linked = (related if related is not None else anime_related_graph()).get(anime.mal_id, ())
    return AnimeInput(
        synopsis=anime.synopsis or anime.title,
        genres=tuple(sorted(g.name for g in anime.genres.all())),
        type=anime.type,
        source=anime.source,
        episodes=anime.episodes,
        year=anime.year,
        studios=tuple(anime.studios or ()),
        rating=anime.rating,
        duration=duration_minutes(anime.duration),
        season=anime.season,
        follows=tuple(follows),
        related=tuple(linked),
    )


@dataclass
class Dataset:
    data: TrainingData
    spec: FeatureSpec
    embeddings: np.ndarray  # float32, L2-normalised, one row per training anime
    inputs: list[AnimeInput]


def dataset_build(
    *,
    cutoffs: Cutoffs,
    text_variant: str,
    limit: int | None = None,
    groups: tuple[str, ...] = DEFAULT_FEATURE_GROUPS,
) -> Dataset:
    """Features of every scored anime (ordered by MAL id; ``limit`` keeps the first ones, for
    quick runs). Embeddings come through the search app's cache, so a second training embeds
    nothing."""
    queryset = Anime.objects.reliably_rated().for_everyone().prefetch_related("genres").order_by("mal_id")
    if limit:
        queryset = queryset[:limit]
    anime = list(queryset)
    graph, related = anime_follows_graph(), anime_related_graph()
    inputs = [anime_input(a, graph, related) for a in anime]
    label, dimension = embedding_label()
    spec = FeatureSpec.from_inputs(
        inputs,
        genres=Genre.objects.values_list("name", flat=True),
        text_variant=text_variant,
        embedding=label,
        dimension=dimension,
        groups=groups,
    )
    embeddings = embed_inputs(inputs, spec)
    scores = np.array([a.score for a in anime], dtype=np.float64)
    franchises = np.array([a.franchise_key or f"mal-{a.mal_id}" for a in anime])
    tabular = {name: i for i, name in enumerate(spec.tabular_names)}
    data = TrainingData(
        X=feature_matrix(inputs, spec, embeddings),
        y=tier_labels(scores, cutoffs),
        scores=scores,
        groups=franchises,
        mal_ids=np.array([a.mal_id for a in anime], dtype=np.int64),
        cutoffs=cutoffs,
        embedding_dims=int(embeddings.shape[1]),
        years=np.array([a.year or 0 for a in anime], dtype=np.int64),
        records=RecordRows(
            studios=[i.studios for i in inputs],
            when=np.array([i.when for i in inputs], dtype=np.float64),
            groups=franchises,
            embeddings=embeddings.astype(np.float32),
            follows=[i.follows for i in inputs],
            related=[i.related for i in inputs],
            mal_ids=np.array([a.mal_id for a in anime], dtype=np.int64),
            votes=np.array([a.scored_by or 0 for a in anime], dtype=np.int64),
            titles=[a.title for a in anime],
        ),
        record_groups=tuple(g for g in RECORD_GROUPS if g in spec.groups),
        genre_columns=np.array([embeddings.shape[1] + tabular[f"genre:{g}"] for g in spec.genres], dtype=np.int64),
        extra={"members": np.array([a.members or 0 for a in anime], dtype=np.int64)},
        follows_graph=graph,
    )
    return Dataset(data=data, spec=spec, embeddings=embeddings.astype(np.float32), inputs=inputs)
