"""Reads of the evaluator."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from catalog.models import Anime, Genre
from catalog.search.titles import title_index
from evaluator.models import Evaluation, TrainingRun
from evaluator.training import BASELINES, FAMILIES, LEVEL
from jobs.owners import owner_gone

DESIGNS = ("grouped", "time", "random")
GROUP_LABELS = {
    "all": "All test anime",
    "sequel": "Sequels (an earlier entry is known)",
    "new": "New franchises",
    "popular": "Popular (100,000+ members)",
}
MODEL_LABELS = {
    "selected": "Chosen model",
    "majority": "Majority tier",
    "seed-logreg": "Seed logistic regression",
    "prequel-tier": "The prequel's tier",
}


def training_run_running() -> TrainingRun | None:
    """The training in progress, unless its process is known to be gone."""
    run = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).first()
    return None if run is None or (run.owner and owner_gone(run.owner)) else run


def training_runs_history() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.order_by("-started_at", "-id")


def evaluation_get(pk: object) -> Evaluation | None:
    """The evaluation with this id; None for an unknown or malformed one."""
    try:
        return Evaluation.objects.select_related("run", "sequel_of").filter(pk=pk).first()
    except (ValueError, ValidationError):  # not a UUID
        return None


@dataclass(frozen=True)
class CatalogueChoices:
    genres: tuple[str, ...]
    genres_by_kind: tuple[tuple[str, tuple[str, ...]], ...]
    types: tuple[str, ...]
    sources: tuple[str, ...]
    ratings: tuple[str, ...] = ()
    studios: tuple[str, ...] = ()


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
    """The catalogue's genres (by kind), types, sources, age ratings and studios."""
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
    ratings = tuple(
        sorted(r for r in Anime.objects.exclude(rating="").order_by().values_list("rating", flat=True).distinct())
    )
    studios = sorted({s for row in Anime.objects.order_by().values_list("studios", flat=True) for s in row or ()})
    return CatalogueChoices(
        genres=tuple(sorted(n for n, _ in genres)),
        genres_by_kind=by_kind,
        types=types,
        sources=sources,
        ratings=ratings,
        studios=tuple(studios),
    )


@dataclass(frozen=True)
class GroupRow:
    """One row of a run's table by group: a model's held-out figures on one group of anime."""

    design: str
    group: str
    group_label: str
    count: int
    model: str
    model_label: str
    accuracy: float
    macro_f1: float
    within_one: float
    spearman: float
    coverage: float | None  # of its 90% tier sets (fitted models only)
    mean_size: float | None


def run_group_rows(run: TrainingRun, *, design: str = "time") -> list[GroupRow]:
    """The rows of ``run``'s table by group for one design (/model/ and the API): per group, in
    the order all, sequels, new franchises, popular, the chosen model then the baselines."""
    groups = (run.groups or {}).get(design) or {}
    rows: list[GroupRow] = []
    for group in GROUP_LABELS:
        if group not in groups:
            continue
        data = groups[group]
        # jsonb (PostgreSQL) keeps no key order: the chosen model, then the baselines as labelled.
        order = {name: i for i, name in enumerate(MODEL_LABELS)}
        for model, m in sorted(data["metrics"].items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
            sets = (data.get("sets") or {}).get(model) or {}
            rows.append(
                GroupRow(
                    design=design,
                    group=group,
                    group_label=GROUP_LABELS[group],
                    count=int(data["count"]),
                    model=model,
                    model_label=MODEL_LABELS.get(model, model),
                    accuracy=m["accuracy"],
                    macro_f1=m["macro_f1"],
                    within_one=m["within_one"],
                    spearman=m["spearman"],
                    coverage=sets.get("coverage"),
                    mean_size=sets.get("mean_size"),
                )
            )
    return rows


def run_summary(run: TrainingRun) -> dict[str, object]:
    """A training run's report as data (``train_classifier --json`` and ``GET /api/model/``): the
    chosen model's figures under each test design, every candidate's and baseline's, the tier
    sets' coverage, how the choice was made and the time of each phase."""
    designs = run.designs or {}

    def figures(name: str) -> dict[str, object]:
        return {design: designs[design]["metrics"].get(name) for design in DESIGNS if design in designs}

    def sets(name: str) -> dict[str, object]:
        return {design: designs[design]["sets"].get(name) for design in DESIGNS if design in designs}

    time_split = designs.get("time") or {}
    chosen_sets = (time_split.get("sets") or {}).get("selected") or {}
    return {
        "chosen": run.chosen,
        "params": run.params,
        "selection": run.selection,
        **figures("selected"),
        "candidates": {name: {**figures(name), "tier_sets": sets(name)} for name in FAMILIES if name in run.candidates},
        "baselines": {name: figures(name) for name in BASELINES},
        "time_split": {k: time_split.get(k) for k in ("cut_year", "train", "test")},
        "tier_sets": {
            "level": LEVEL,
            "time": chosen_sets.get(f"{LEVEL:g}"),
            "grouped": ((designs.get("grouped") or {}).get("sets") or {}).get("selected", {}).get(f"{LEVEL:g}"),
            "by_level": chosen_sets,
        },
        "groups": {design: [asdict(row) for row in run_group_rows(run, design=design)] for design in run.groups or {}},
        "phases": run.phases,
        "run_id": run.pk,
        "active": run.is_active,
        "baseline": run.baseline,
        "confusion_matrix": run.confusion_matrix,
    }


# ---------------------------------------------------------------------------- sequel of


SEQUEL_SUGGESTIONS = 8


@dataclass(frozen=True)
class SequelCandidate:
    """A catalogue anime an input may follow, as a picker shows it."""

    mal_id: int
    title: str
    year: int | None
    type: str
    exact: bool = False

    @property
    def label(self) -> str:
        facts = ", ".join(str(f) for f in (self.year, self.type) if f)
        return f"{self.title} ({facts})" if facts else self.title


def sequel_candidates(query: str, *, limit: int = SEQUEL_SUGGESTIONS) -> list[SequelCandidate]:
    """The catalogue anime whose titles ``query`` names, best first: the search's title matching
    (every title and synonym, small typos forgiven), bounded to ``limit`` rows. Adult titles are
    left out, as everywhere a visitor did not ask for them."""
    query = query.strip()[:200]
    if not query:
        return []
    matches = title_index().match(query, limit=limit * 2)
    rows = Anime.objects.for_everyone().only("mal_id", "title", "year", "type").in_bulk([m.mal_id for m in matches])
    out = [
        SequelCandidate(m.mal_id, rows[m.mal_id].title, rows[m.mal_id].year, rows[m.mal_id].type, m.exact)
        for m in matches
        if m.mal_id in rows
    ]
    return out[:limit]


def sequel_candidate_get(mal_id: int) -> SequelCandidate | None:
    anime = Anime.objects.only("mal_id", "title", "year", "type").filter(mal_id=mal_id).first()
    return None if anime is None else SequelCandidate(anime.mal_id, anime.title, anime.year, anime.type, True)
