"""Reads of the evaluator."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from catalog.models import Anime, Genre
from evaluator.models import Evaluation, TrainingRun
from jobs.owners import owner_gone


def training_run_running() -> TrainingRun | None:
    """The training in progress, unless its process is known to be gone."""
    run = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).first()
    return None if run is None or (run.owner and owner_gone(run.owner)) else run


def training_runs_history() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.order_by("-started_at", "-id")


def evaluation_get(pk: object) -> Evaluation | None:
    """The evaluation with this id; None for an unknown or malformed one."""
    try:
        return Evaluation.objects.select_related("run").filter(pk=pk).first()
    except (ValueError, ValidationError):  # not a UUID
        return None


@dataclass(frozen=True)
class CatalogueChoices:
    genres: tuple[str, ...]
    genres_by_kind: tuple[tuple[str, tuple[str, ...]], ...]
    types: tuple[str, ...]
    sources: tuple[str, ...]


_choices: tuple[float, CatalogueChoices] | None = None
CHOICES_TTL = 300.0


def catalogue_choices() -> CatalogueChoices:
    """The vocabulary an input may use, kept for a few minutes per process: three queries over
    the whole catalogue cost ~10-30 ms, a large share of an evaluation, and the vocabulary only
    changes on import."""
    global _choices
    now = time.monotonic()
    if _choices is None or now - _choices[0] > CHOICES_TTL:
        _choices = (now, catalogue_choices_load())
    return _choices[1]


def catalogue_choices_forget() -> None:
    global _choices
    _choices = None


def catalogue_choices_load() -> CatalogueChoices:
    """The catalogue's genres (by kind), types and sources."""
    genres = list(Genre.objects.order_by("kind", "name").values_list("name", "kind"))
    kinds: dict[str, list[str]] = {}
    for name, kind in genres:
        kinds.setdefault(kind, []).append(name)
    order = [Genre.Kind.GENRE, Genre.Kind.THEME, Genre.Kind.DEMOGRAPHIC]
    by_kind = tuple((Genre.Kind(k).label, tuple(kinds[k])) for k in order if k in kinds)
    # order_by() clears the model's default ordering, which would otherwise defeat DISTINCT.
    types = tuple(
        sorted(t for t in Anime.objects.exclude(type="").order_by().values_list("type", flat=True).distinct())
    )
    sources = tuple(
        sorted(s for s in Anime.objects.exclude(source="").order_by().values_list("source", flat=True).distinct())
    )
    return CatalogueChoices(
        genres=tuple(sorted(n for n, _ in genres)), genres_by_kind=by_kind, types=types, sources=sources
    )
