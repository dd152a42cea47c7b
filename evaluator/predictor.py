"""A trained model as one artifact file, and what it says about one input.

The artifact (joblib, under ``VAR_DIR/models``) holds the feature vocabulary, the fitted
candidate, and the catalogue's embeddings with their MAL ids, so the nearest catalogue anime are
a dot product away (no second process opening Qdrant's single-process local storage).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from django.conf import settings

from catalog.tiers import TIER_ORDER, Cutoffs
from evaluator.features import AnimeInput, FeatureSpec, embed_inputs, feature_matrix
from evaluator.training import TierModel

NEIGHBOURS = 5


def models_dir() -> Path:
    path = Path(settings.VAR_DIR) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Prediction:
    tier: str
    probabilities: dict[str, float]  # tier value -> probability, best tier first
    predicted_score: float
    neighbours: list[tuple[int, float]]  # (mal_id, cosine similarity), nearest first
    genre_effects: dict[str, float]  # given genre -> change of the predicted score it causes


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
        predictor = joblib.load(models_dir() / name)
        if not isinstance(predictor, cls):
            raise TypeError(f"{name} does not hold a Predictor")
        return predictor

    def predict(self, item: AnimeInput) -> Prediction:
        embedding = embed_inputs([item], self.spec, cached=False)
        # Row 0 is the input; each further row drops one given genre, so the difference of the
        # predicted scores is that genre's effect according to the model.
        known = [g for g in item.genres if g in self.spec.genres]
        variants = [item] + [
            AnimeInput(**{**item.as_dict(), "genres": tuple(x for x in item.genres if x != g)}) for g in known
        ]
        X = feature_matrix(variants, self.spec, np.repeat(embedding, len(variants), axis=0))
        probabilities, scores = self.model.predict(X)
        label = int(self.model.decide(probabilities[:1], scores[:1])[0])
        similarity = self.catalogue_embeddings @ embedding[0].astype(np.float32)
        nearest = np.argsort(-similarity)[:NEIGHBOURS]
        return Prediction(
            tier=TIER_ORDER[label].value,
            probabilities={t.value: round(float(p), 4) for t, p in zip(TIER_ORDER, probabilities[0], strict=True)},
            predicted_score=round(float(scores[0]), 2),
            neighbours=[(int(self.catalogue_ids[i]), round(float(similarity[i]), 4)) for i in nearest],
            genre_effects={g: round(float(scores[0] - scores[k + 1]), 3) for k, g in enumerate(known)},
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
