"""What the evaluator knows about an anime, as numbers.

An anime is described only by what a not-yet-released anime already has: its synopsis (as an
embedding from the search app's embedder and cache), genres/themes/demographics (multi-hot), and
the optional type, source material, episode count, year, studios, age rating, episode duration
and season (one-hot and bins). The studios enter through their track record, and the franchise
through its earlier entries' scores and votes: both depend on the training anime and are
computed per fold (``evaluator.records``, ``evaluator.franchise``). The anime's own popularity
and outcome fields (members, scored_by, rank, popularity, favorites, score) never enter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from catalog.search.documents import clean_synopsis

# Measured with grouped 5-fold CV (see the README): embedding the synopsis alone versus the
# seed's "synopsis + genres" text. Genres are also multi-hot features either way.
TEXT_VARIANTS = ("synopsis", "synopsis+genres")
DEFAULT_TEXT_VARIANT = "synopsis"

EPISODE_BINS: tuple[tuple[int, int], ...] = ((1, 1), (2, 6), (7, 13), (14, 26), (27, 52), (53, 10**6))
YEAR_BINS: tuple[tuple[int, int], ...] = (
    (0, 1994),
    (1995, 1999),
    (2000, 2004),
    (2005, 2009),
    (2010, 2014),
    (2015, 2018),
    (2019, 2021),
    (2022, 9999),
)
YEAR_CENTRE = 2010
DURATION_BINS: tuple[tuple[int, int], ...] = ((1, 7), (8, 17), (18, 30), (31, 60), (61, 10**6))
SEASONS = ("winter", "spring", "summer", "fall")

# The optional inputs grouped as the feature ablation measures them (``train_classifier
# --ablation``). A group is kept only where leaving it out lowers the selection criterion on the
# time split (README, "Evaluator"): the age rating and the season did not (both raised it, by
# 0.0005 and 0.0004). ``franchise`` is the earlier entries' record (``evaluator.franchise``).
FEATURE_GROUPS = ("source", "episodes", "rating", "duration", "season", "studio", "neighbours", "franchise")
DEFAULT_FEATURE_GROUPS = ("source", "episodes", "duration", "studio", "neighbours", "franchise")


@dataclass(frozen=True)
class AnimeInput:
    """The evaluator's view of an anime (a catalogue one or a user's)."""

    synopsis: str
    genres: tuple[str, ...] = ()
    type: str = ""
    source: str = ""
    episodes: int | None = None
    year: int | None = None
    studios: tuple[str, ...] = ()
    rating: str = ""
    duration: int | None = None  # minutes per episode
    season: str = ""
    # MAL ids of the catalogue entries it directly follows (its prequel or parent story): a
    # catalogue anime's from the relation graph, a user's from "sequel of".
    follows: tuple[int, ...] = ()
    # MAL ids of the catalogue entries linked to it by any other relation (an alternative version,
    # a spin-off, shared characters, …; ``catalog.selectors.anime_related_graph``): a catalogue
    # anime's only; a user's input has none.
    related: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["genres"] = list(self.genres)
        data["studios"] = list(self.studios)
        data["follows"] = list(self.follows)
        data["related"] = list(self.related)
        return data

    @property
    def when(self) -> float:
        """Release time as a year fraction (season start; unknown season: the year's start);
        infinity when no year is given (a new anime comes after every catalogue anime)."""
        if not self.year:
            return math.inf
        return self.year + (SEASONS.index(self.season) / 4 if self.season in SEASONS else 0.0)


def duration_minutes(text: str) -> int | None:
    """Minutes per episode from MyAnimeList's duration text ("24 min per ep", "1 hr 30 min",
    "45 sec per ep"); None when there is none."""
    if not text:
        return None
    hours = re.search(r"(\d+)\s*hr", text)
    minutes = re.search(r"(\d+)\s*min", text)
    seconds = re.search(r"(\d+)\s*sec", text)
    total = (int(hours.group(1)) * 60 if hours else 0) + (int(minutes.group(1)) if minutes else 0)
    if not total and seconds:
        total = 1
    return total or None


@dataclass(frozen=True)
class FeatureSpec:
    """The vocabulary a model was trained with (saved in its artifact)."""

    genres: tuple[str, ...]
    types: tuple[str, ...]
    sources: tuple[str, ...]
    ratings: tuple[str, ...] = ()
    groups: tuple[str, ...] = DEFAULT_FEATURE_GROUPS
    text_variant: str = DEFAULT_TEXT_VARIANT
    embedding: str = ""
    embedding_dimension: int = 0
    tabular_names: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_inputs(
        cls,
        inputs: Sequence[AnimeInput],
        *,
        genres: Iterable[str],
        text_variant: str,
        embedding: str,
        dimension: int,
        groups: Sequence[str] = DEFAULT_FEATURE_GROUPS,
    ) -> FeatureSpec:
        unknown = set(groups) - set(FEATURE_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown feature group(s) {', '.join(sorted(unknown))}; known: {', '.join(FEATURE_GROUPS)}"
            )
        types = tuple(sorted({i.type for i in inputs if i.type}))
        sources = tuple(sorted({i.source for i in inputs if i.source}))
        ratings = tuple(sorted({i.rating for i in inputs if i.rating}))
        spec = cls(
            genres=tuple(sorted(set(genres))),
            types=types,
            sources=sources,
            ratings=ratings,
            groups=tuple(g for g in FEATURE_GROUPS if g in groups),
            text_variant=text_variant,
            embedding=embedding,
            embedding_dimension=dimension,
        )
        return cls(**{**asdict(spec), "tabular_names": spec.build_tabular_names()})

    def build_tabular_names(self) -> tuple[str, ...]:
        names = [f"genre:{g}" for g in self.genres]
        names += [f"type:{t}" for t in self.types]
        if "source" in self.groups:
            names += [f"source:{s}" for s in self.sources]
        if "episodes" in self.groups:
            names += ["episodes:log", "episodes:unknown"]
            names += [f"episodes:{lo}-{hi}" for lo, hi in EPISODE_BINS]
        names += ["year:linear", "year:unknown"]
        names += [f"year:{lo}-{hi}" for lo, hi in YEAR_BINS]
        if "rating" in self.groups:
            names += [f"rating:{r}" for r in self.ratings] + ["rating:unknown"]
        if "duration" in self.groups:
            names += ["duration:log", "duration:unknown"] + [f"duration:{lo}-{hi}" for lo, hi in DURATION_BINS]
        if "season" in self.groups:
            names += [f"season:{s}" for s in SEASONS] + ["season:unknown"]
        return tuple(names)


def input_text(item: AnimeInput, variant: str) -> str:
    """The text that gets embedded for an anime: one rule for training and evaluation."""
    synopsis = clean_synopsis(item.synopsis)
    if variant == "synopsis+genres" and item.genres:
        return f"{synopsis}\nGenres: {', '.join(sorted(item.genres))}"
    return synopsis


def tabular_row(item: AnimeInput, spec: FeatureSpec) -> list[float]:
    given = set(item.genres)
    row = [1.0 if g in given else 0.0 for g in spec.genres]
    row += [1.0 if item.type == t else 0.0 for t in spec.types]
    if "source" in spec.groups:
        row += [1.0 if item.source == s else 0.0 for s in spec.sources]
    if "episodes" in spec.groups:
        episodes = item.episodes
        row += [math.log1p(episodes) if episodes else 0.0, 0.0 if episodes else 1.0]
        row += [1.0 if episodes and lo <= episodes <= hi else 0.0 for lo, hi in EPISODE_BINS]
    year = item.year
    row += [(year - YEAR_CENTRE) / 10 if year else 0.0, 0.0 if year else 1.0]
    row += [1.0 if year and lo <= year <= hi else 0.0 for lo, hi in YEAR_BINS]
    if "rating" in spec.groups:
        row += [1.0 if item.rating == r else 0.0 for r in spec.ratings] + [0.0 if item.rating else 1.0]
    if "duration" in spec.groups:
        minutes = item.duration
        row += [math.log1p(minutes) if minutes else 0.0, 0.0 if minutes else 1.0]
        row += [1.0 if minutes and lo <= minutes <= hi else 0.0 for lo, hi in DURATION_BINS]
    if "season" in spec.groups:
        row += [1.0 if item.season == s else 0.0 for s in SEASONS] + [0.0 if item.season in SEASONS else 1.0]
    return row


def tabular_matrix(items: Sequence[AnimeInput], spec: FeatureSpec) -> np.ndarray:
    return np.array([tabular_row(i, spec) for i in items], dtype=np.float64).reshape(len(items), -1)


def embed_inputs(items: Sequence[AnimeInput], spec: FeatureSpec, *, cached: bool = True) -> np.ndarray:
    """Embeddings of the inputs' texts through the search app's embedder and database cache.
    A user's input skips the cache (``cached=False``): its stored ``Evaluation`` already answers
    a repeat, and a cache write would cost every request a database commit."""
    from catalog.search.embeddings import embed_documents_cached, get_embedder

    texts = [input_text(i, spec.text_variant) for i in items]
    vectors = embed_documents_cached(texts) if cached else get_embedder().embed_documents(texts)
    return np.asarray(vectors, dtype=np.float64)


def feature_matrix(items: Sequence[AnimeInput], spec: FeatureSpec, embeddings: np.ndarray | None = None) -> np.ndarray:
    """Embedding columns then tabular columns, one row per item."""
    if embeddings is None:
        embeddings = embed_inputs(items, spec)
    return np.hstack([np.asarray(embeddings, dtype=np.float64), tabular_matrix(items, spec)])


def embedding_label() -> tuple[str, int]:
    from catalog.search.embeddings import get_embedder

    embedder = get_embedder()
    return f"{embedder.name}/{embedder.model}/{embedder.dimension}", embedder.dimension
