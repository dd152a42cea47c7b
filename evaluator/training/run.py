"""The whole training: every split of every test design, gathered into per-design results."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed

from catalog.tiers import TIER_ORDER
from evaluator.training.conformal import set_metrics
from evaluator.training.data import TIME_TEST_MIN, TrainingData, grouped_splits, random_splits, time_split
from evaluator.training.groups import HeldOut, design_groups
from evaluator.training.metrics import confusion, metrics_compute, per_tier_f1
from evaluator.training.model import TierModel
from evaluator.training.split import SplitResult, split_run
from evaluator.training.tiers import COVERAGE_LEVELS, FAMILIES, GRID, LEVEL, Grid


@dataclass
class DesignResult:
    """One test design (grouped, time, random): each model's held-out predictions gathered."""

    name: str
    rows: np.ndarray
    metrics: dict[str, dict[str, float]]
    sets: dict[str, dict[str, dict[str, float]]]  # model -> level -> coverage/mean_size
    confusion: dict[str, list[list[int]]]
    per_tier_f1: dict[str, dict[str, float]]
    probabilities: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    chosen: list[dict[str, dict[str, object]]]
    extra: dict[str, object] = field(default_factory=dict)
    decisions: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # model -> LEVEL set
    groups: dict[str, dict[str, object]] = field(default_factory=dict)  # see ``evaluator.training.groups``


def design_gather(
    name: str, data: TrainingData, results: Sequence[SplitResult], levels: Sequence[float], extra: dict | None = None
) -> DesignResult:
    rows = np.concatenate([r.test for r in results])
    y, true_scores = data.y[rows], data.scores[rows]
    metrics, sets, matrices, f1s, probabilities, scores, decisions, bounds = {}, {}, {}, {}, {}, {}, {}, {}
    for model in results[0].outputs:
        p = np.concatenate([r.outputs[model][0] for r in results])
        s = np.concatenate([r.outputs[model][1] for r in results])
        d = np.concatenate([r.outputs[model][2] for r in results])
        metrics[model] = metrics_compute(y, d, p, s, true_scores)
        matrix = confusion(y, d)
        matrices[model] = matrix.tolist()
        f1s[model] = {t.value: round(float(f), 4) for t, f in zip(TIER_ORDER, per_tier_f1(matrix), strict=True)}
        probabilities[model], scores[model], decisions[model] = p, s, d
        if model in results[0].sets:
            bounds[model] = tuple(np.concatenate([r.sets[model][LEVEL][i] for r in results]) for i in (0, 1))
            sets[model] = {
                f"{level:g}": set_metrics(
                    np.concatenate([r.sets[model][level][0] for r in results]),
                    np.concatenate([r.sets[model][level][1] for r in results]),
                    y,
                )
                for level in levels
            }
    return DesignResult(
        name=name,
        rows=rows,
        metrics=metrics,
        sets=sets,
        confusion=matrices,
        per_tier_f1=f1s,
        probabilities=probabilities,
        scores=scores,
        chosen=[r.chosen for r in results],
        extra=extra or {},
        decisions=decisions,
        bounds=bounds,
    )


@dataclass
class TrainingOutcome:
    chosen: str  # the family the selection on all data chose for the deployed model
    model: TierModel | None
    designs: dict[str, DesignResult]
    folds: int
    phases: dict[str, float]
    families: tuple[str, ...]


def train(
    data: TrainingData,
    *,
    folds: int = 5,
    candidates: Sequence[str] | None = None,
    grid: Grid = GRID,
    levels: Sequence[float] = COVERAGE_LEVELS,
    time_minimum: int = TIME_TEST_MIN,
    jobs: int | None = None,
    designs: Sequence[str] = ("grouped", "time", "random"),
    final: bool = True,
    progress: Callable[[str], None] | None = None,
) -> TrainingOutcome:
    """Nested selection and evaluation under the test designs, then (``final``) the deployed
    model: the selection repeated on all the data and its winner fitted on everything. The outer
    splits run in ``jobs`` processes."""
    families = tuple(candidates or FAMILIES)
    unknown = [n for n in families if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    levels = tuple(sorted(set(levels) | {LEVEL}))
    phases: dict[str, float] = {}
    started = time.perf_counter()
    grouped, shuffled = grouped_splits(data, folds), random_splits(data, folds)
    timed = time_split(data, time_minimum)
    everything = np.arange(len(data.y))
    # (design, train, test, keep the model, franchise history pool): grouped and random folds
    # draw the history from their training rows; the time split and the deployed model from
    # every scored anime that started earlier than the one at hand (what a fan knew at release).
    tasks: list[tuple[str, np.ndarray, np.ndarray, bool, np.ndarray | None]] = []
    if final:
        tasks.append(("final", everything, everything[:0], True, everything))
    if "grouped" in designs:
        tasks += [("grouped", tr, te, False, None) for tr, te in grouped]
    if timed is not None and "time" in designs:
        tasks.append(("time", timed[1], timed[2], False, everything))
    if "random" in designs:
        tasks += [("random", tr, te, False, None) for tr, te in shuffled]
    phases["splits"] = round(time.perf_counter() - started, 2)
    if progress:
        cut = f"time split at {timed[0]} ({len(timed[1])} train / {len(timed[2])} test)" if timed else "no time split"
        progress(f"{len(tasks)} fits with nested selection ({', '.join(designs)}; {cut}{', final' if final else ''}) …")
    n_jobs = max(1, jobs or 1)
    fit_started = time.perf_counter()
    results = Parallel(n_jobs=n_jobs, backend="loky" if n_jobs > 1 else "sequential")(
        delayed(split_run)(
            data, train, test, grid=grid, families=families, levels=levels, keep_model=keep, history=history
        )
        for _, train, test, keep, history in tasks
    )
    phases["nested_fits"] = round(time.perf_counter() - fit_started, 2)
    phases["fit_seconds_per_split"] = {
        name: round(sum(r.seconds for (n, *_), r in zip(tasks, results, strict=True) if n == name), 2)
        for name in ("final", "grouped", "time", "random")
    }
    gather_started = time.perf_counter()
    by_design: dict[str, list[SplitResult]] = {}
    for (name, *_), result in zip(tasks, results, strict=True):
        by_design.setdefault(name, []).append(result)
    designs = {}
    for name in ("grouped", "time", "random"):
        if name in by_design:
            extra = (
                {"cut_year": timed[0], "train": len(timed[1]), "test": len(timed[2])}
                if name == "time"
                else {"folds": folds}
            )
            designs[name] = design_gather(name, data, by_design[name], levels, extra)
            design = designs[name]
            held_out = HeldOut(design.rows, design.decisions, design.probabilities, design.scores, design.bounds)
            design.groups = design_groups(held_out, data, everything if name == "time" else None)
    phases["gather"] = round(time.perf_counter() - gather_started, 2)
    deployed = by_design["final"][0] if final else None
    if progress:
        for name, design in designs.items():
            m = design.metrics["selected"]
            progress(
                f"{name}: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, within-one "
                f"{m['within_one']:.3f}, Spearman {m['spearman']:.3f}"
            )
    return TrainingOutcome(
        chosen=deployed.chosen["selected"]["family"] if deployed else "",
        model=deployed.model if deployed else None,
        designs=designs,
        folds=folds,
        phases=phases,
        families=families,
    )
