"""A trained model as one artifact file, and what it says about one input.

The artifact (joblib, under ``VAR_DIR/models``) holds the feature vocabulary, the fitted
candidate, and the catalogue's embeddings with their MAL ids, so the nearest catalogue anime are
a dot product away (no second process opening Qdrant's single-process local storage).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import joblib
import numpy as np
from django.conf import settings

from catalog.tiers import TIER_ORDER, Cutoffs
from evaluator.features import AnimeInput, FeatureSpec, embed_inputs, feature_matrix
from evaluator.records import RecordRows
from evaluator.training import LEVEL, TierModel

NEIGHBOURS = 5


def models_dir() -> Path:
    path = Path(settings.VAR_DIR) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


class ArtifactUnreadable(Exception):
    """A model file that cannot be used: missing, damaged, or from an older version."""


def artifact_usable(name: str) -> bool:
    try:
        Predictor.load(name)
    except ArtifactUnreadable:
        return False
    return True


@dataclass(frozen=True)
class Reason:
    """One input and how far it moves the predicted score, according to the model: the
    prediction minus the prediction with that input at the training anime's average."""

    key: str  # "genre:Drama", "studio", "synopsis", "neighbours", "type", …
    label: str
    effect: float

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "label": self.label, "effect": self.effect}


@dataclass(frozen=True)
class Prediction:
    tier: str
    probabilities: dict[str, float]  # tier value -> probability, best tier first
    predicted_score: float
    neighbours: list[tuple[int, float]]  # (mal_id, cosine similarity), nearest first
    tier_set: list[str]  # tier values, best first: the conformal set at ``set_level``
    set_level: float
    reasons: list[Reason]  # strongest first

    @property
    def genre_effects(self) -> dict[str, float]:
        return {r.key.split(":", 1)[1]: r.effect for r in self.reasons if r.key.startswith("genre:")}


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


@dataclass
class Predictor:
    spec: FeatureSpec
    model: TierModel
    cutoffs: Cutoffs
    catalogue_ids: np.ndarray
    catalogue_embeddings: np.ndarray  # float32, L2-normalised

    def save(self, name: str) -> str:
        joblib.dump(self, models_dir() / name, compress=3)
        return name

    @classmethod
    def load(cls, name: str) -> Predictor:
        """The predictor in ``name``. Raises ``ArtifactUnreadable`` when the file is missing,
        damaged, or written by an older version of the code (its classes are gone)."""
        try:
            predictor = joblib.load(models_dir() / name)
        except Exception as error:  # unpickling an old or damaged artifact can raise nearly anything
            raise ArtifactUnreadable(f"{name}: {type(error).__name__}: {error}") from error
        if not isinstance(predictor, cls) or not hasattr(predictor.model, "encoder"):
            raise ArtifactUnreadable(f"{name} does not hold a predictor of this version")
        # A model fitted on another set of columns (e.g. before the franchise history grew its
        # related entries) would fail at its first prediction: refuse it here instead.
        if len(predictor.model.scaler.mean) != len(predictor.column_names):
            raise ArtifactUnreadable(f"{name} was trained on other feature columns than this version makes")
        return predictor

    @property
    def column_names(self) -> list[str]:
        dims = self.spec.embedding_dimension
        return [f"synopsis:{i}" for i in range(dims)] + list(self.spec.tabular_names) + list(self.model.encoder.names)

    def design(self, item: AnimeInput, embedding: np.ndarray) -> np.ndarray:
        """The model's feature row of an input: fixed columns, then its studios' record and its
        nearest catalogue anime's scores from the whole catalogue. An optional input the user left
        out takes the training anime's average: "not given" is not the catalogue's "unknown",
        which marks particular anime (a running series has no episode count yet)."""
        fixed = feature_matrix([item], self.spec, embedding)
        if self.model.encoder.groups:
            rows = RecordRows(
                studios=[item.studios],
                when=np.array([item.when]),
                groups=np.array([""]),
                embeddings=embedding.astype(np.float32),
                follows=[item.follows],
                related=[item.related],
                mal_ids=np.array([0], dtype=np.int64),
            )
            fixed = np.hstack([fixed, self.model.encoder.transform(rows)])
        columns = self.input_columns
        for key, value in self._optional(item).items():
            if not value and key in columns:
                fixed[0, columns[key]] = self.model.column_means[columns[key]]
        return fixed

    @cached_property
    def input_columns(self) -> dict[str, list[int]]:
        """Column indices by input ("synopsis", "genre", "type", "studio", …), worked out once."""
        out: dict[str, list[int]] = {}
        for i, name in enumerate(self.column_names):
            out.setdefault(name.split(":", 1)[0], []).append(i)
        return out

    @staticmethod
    def _optional(item: AnimeInput) -> dict[str, object]:
        return {
            "type": item.type,
            "source": item.source,
            "episodes": item.episodes,
            "year": item.year,
            "rating": item.rating,
            "duration": item.duration,
            "season": item.season,
            "studio": item.studios,
        }

    def _studio_label(self, item: AnimeInput) -> str:
        encoder = self.model.encoder
        known = tuple(s for s in item.studios if s in encoder.by_studio)
        unknown = [s for s in item.studios if s not in known]
        if not known:
            return f"{' & '.join(item.studios)}: no earlier anime in the catalogue"
        record = encoder.studio_record(known, item.when)
        if not record.count:
            label = f"{' & '.join(known)}: no earlier anime in the catalogue"
        else:
            earlier = _plural(record.count, "earlier anime", "earlier anime")
            label = f"{' & '.join(known)}'s record: {earlier} averaging {record.mean_score:.2f}"
        return label + (f" ({', '.join(unknown)}: none)" if unknown else "")

    def _franchise_label(self, item: AnimeInput) -> str:
        """ "Follows Mob Psycho 100 II: 8.79 from 600,000 votes (2 earlier entries)"."""
        history = self.model.encoder.franchise
        entries = history.earlier(item.follows, item.when) if history is not None else []
        if not entries:
            return "Follows an anime with no earlier score in the catalogue"
        last = entries[-1]
        label = f"Follows {last.title or f'MAL {last.mal_id}'}: {last.score:.2f} from {last.votes:,} votes"
        if len(entries) > 1:
            label += f" ({len(entries)} earlier entries averaging {np.mean([e.score for e in entries]):.2f})"
        return label

    def _reason_groups(self, item: AnimeInput) -> list[tuple[str, str, list[int]]]:
        """(key, label, column indices) of every input given."""
        columns = self.input_columns
        index = {name: i for i, name in enumerate(self.column_names)}
        groups: list[tuple[str, str, list[int]]] = [("synopsis", "The synopsis's wording", columns["synopsis"])]
        groups += [(f"genre:{g}", g, [index[f"genre:{g}"]]) for g in item.genres if f"genre:{g}" in index]
        labels = {
            "type": f"Type: {item.type}",
            "source": f"Source: {item.source}",
            "episodes": _plural(item.episodes or 0, "episode"),
            "year": f"Year {item.year}",
            "rating": f"Age rating: {item.rating}",
            "duration": f"{item.duration} min per episode",
            "season": f"Season: {item.season}",
        }
        for key, value in self._optional(item).items():
            if value and key in columns:
                groups.append((key, self._studio_label(item) if key == "studio" else labels[key], columns[key]))
        if "franchise" in columns and item.follows:
            groups.append(("franchise", self._franchise_label(item), columns["franchise"]))
        if "neighbours" in columns:
            label = "The scores of the catalogue anime whose synopses read most like it"
            groups.append(("neighbours", label, columns["neighbours"]))
        return groups

    def predict(self, item: AnimeInput, *, level: float = LEVEL, embedding: np.ndarray | None = None) -> Prediction:
        """``embedding``: the input's text embedding (one row) when the caller has it already
        (catalogue anime embedded in a batch through the cache, ``upcoming_refresh``)."""
        if embedding is None:
            embedding = embed_inputs([item], self.spec, cached=False)
        X = self.design(item, embedding)
        # Row 0 is the input; each further row puts one input at the training average, so the
        # difference of the predicted scores is that input's effect according to the model.
        groups = self._reason_groups(item)
        variants = np.repeat(X, len(groups) + 1, axis=0)
        for k, (_, _, columns) in enumerate(groups, start=1):
            variants[k, columns] = self.model.column_means[columns]
        probabilities, scores = self.model.predict(variants)
        label = int(self.model.decide(probabilities[:1], scores[:1])[0])
        # Its tier set's calibration group: whether the anime has an earlier entry.
        has_history = ~np.isnan(self.model.latest_earlier_scores(X))
        low, high = self.model.tier_sets(probabilities[:1], has_history, level)
        similarity = self.catalogue_embeddings @ embedding[0].astype(np.float32)
        nearest = np.argsort(-similarity)[:NEIGHBOURS]
        reasons = [
            Reason(key=key, label=label_text, effect=round(float(scores[0] - scores[k]), 3))
            for k, (key, label_text, _) in enumerate(groups, start=1)
        ]
        reasons.sort(key=lambda r: -abs(r.effect))
        return Prediction(
            tier=TIER_ORDER[label].value,
            probabilities={t.value: round(float(p), 4) for t, p in zip(TIER_ORDER, probabilities[0], strict=True)},
            predicted_score=round(float(scores[0]), 2),
            neighbours=[(int(self.catalogue_ids[i]), round(float(similarity[i]), 4)) for i in nearest],
            tier_set=[TIER_ORDER[k].value for k in range(int(low[0]), int(high[0]) + 1)],
            set_level=level,
            reasons=reasons,
        )


_loaded: dict[str, tuple[int, Predictor]] = {}
_lock = threading.Lock()


def predictor_for(run_id: int, artifact: str) -> Predictor:
    """The predictor of a run, loaded once per process and replaced when another run is asked
    for (the active run changed)."""
    with _lock:
        current = _loaded.get("active")
        if current is None or current[0] != run_id:
            _loaded["active"] = (run_id, Predictor.load(artifact))
        return _loaded["active"][1]


def predictor_forget() -> None:
    with _lock:
        _loaded.clear()
