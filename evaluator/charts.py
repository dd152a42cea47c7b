"""The model report's pictures (matplotlib's Agg renderer), rendered once per run and chart.

Figures are made with matplotlib's object API, never pyplot: pyplot keeps one global "current
figure" for the process, and the report's four charts are requested at once, so threads of one
server (the threaded test server, gunicorn's threads) would draw into each other's figures."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from catalog.models import Anime
from catalog.tiers import TIER_ORDER
from evaluator.models import TrainingRun

CHARTS = ("coverage", "confusion", "calibration", "scores", "per-tier-f1")
LABELS = [t.label for t in TIER_ORDER]
COLOURS = {"top-tier": "#b7791f", "worthwhile": "#1f7a4d", "watchable": "#2358a8", "terrible": "#a3262e"}


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def confusion_chart(run: TrainingRun) -> bytes:
    matrix = np.array(run.confusion_matrix or [[0] * 4] * 4, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    figure, ax = _figure(5.2, 4.4)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j, i, f"{int(matrix[i, j])}\n{share[i, j]:.0%}", ha="center", va="center",
                color="white" if share[i, j] > 0.5 else "#1a202c", fontsize=9,
            )  # fmt: skip
    ax.set_xticks(range(4), LABELS, rotation=20)
    ax.set_yticks(range(4), LABELS)
    ax.set_xlabel("Predicted tier")
    ax.set_ylabel("True tier")
    ax.set_title(f"Confusion matrix, grouped {run.folds}-fold CV")
    figure.colorbar(image, ax=ax, fraction=0.046, label="share of the true tier")
    return _png(figure)


def calibration_chart(run: TrainingRun) -> bytes:
    bins = run.calibration or {}
    figure, ax = _figure(5.2, 4.4)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#718096", label="perfect calibration")
    if bins.get("confidence"):
        sizes = np.array(bins["count"], dtype=float)
        ax.plot(bins["confidence"], bins["accuracy"], marker="o", color="#2358a8", label="model")
        ax.scatter(bins["confidence"], bins["accuracy"], s=20 + 200 * sizes / sizes.max(), color="#2358a8", alpha=0.3)
    ece = run.grouped("ece")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Top-tier probability (confidence)")
    ax.set_ylabel("Share correct")
    ax.set_title(f"Calibration, grouped CV (ECE {ece:.3f})" if ece is not None else "Calibration")
    ax.legend(loc="upper left")
    return _png(figure)


def scores_chart(run: TrainingRun) -> bytes:
    scores = np.array(list(Anime.objects.reliably_rated().values_list("score", flat=True)), dtype=float)
    predicted = np.array((run.calibration or {}).get("predicted_scores") or [], dtype=float)
    figure, ax = _figure(6.4, 4.0)
    bins = np.arange(4.0, 9.41, 0.1)
    ax.hist(scores, bins=bins, color="#a0aec0", label="catalogue scores")
    if predicted.size:
        ax.hist(predicted, bins=bins, histtype="step", linewidth=2, color="#4f46e5", label="predicted (grouped CV)")
    thresholds = run.thresholds or {}
    for key, tier, label in (
        ("top_tier", "top-tier", "Top-tier"),
        ("worthwhile", "worthwhile", "Worthwhile"),
        ("watchable", "watchable", "Watchable"),
    ):
        if key in thresholds:
            ax.axvline(
                thresholds[key],
                color=COLOURS[tier],
                linewidth=2,
                linestyle="--",
                label=f"{label} ≥ {thresholds[key]:.2f}",
            )
    ax.set_xlabel("MyAnimeList score (lines: tier thresholds)")
    ax.set_ylabel("Anime")
    ax.set_title("Score distribution and tier thresholds")
    ax.legend(loc="upper left")
    return _png(figure)


def per_tier_f1_chart(run: TrainingRun) -> bytes:
    values = [run.per_tier_f1.get(t.value, 0.0) for t in TIER_ORDER]
    seed = ((run.candidates.get("logreg") or {}).get("per_tier_f1")) or {}
    figure, ax = _figure(5.2, 3.6)
    x = np.arange(4)
    ax.bar(x - 0.2, values, width=0.4, color=[COLOURS[t.value] for t in TIER_ORDER], label=f"active ({run.chosen})")
    if seed:
        ax.bar(
            x + 0.2,
            [seed.get(t.value, 0.0) for t in TIER_ORDER],
            width=0.4,
            color="#cbd5e0",
            label="logistic regression",
        )
    ax.set_xticks(x, LABELS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (grouped CV)")
    ax.set_title("F1 per tier")
    ax.legend()
    return _png(figure)


def coverage_chart(run: TrainingRun) -> bytes:
    """Measured coverage of the chosen model's conformal tier sets against their level, on the
    time split and under grouped CV, with the mean set size on a second axis."""
    figure, ax = _figure(6.4, 4.0)
    ax.plot([0.45, 1.0], [0.45, 1.0], linestyle="--", color="#718096", label="as promised")
    sizes = ax.twinx()
    styles = {"time": ("#b7791f", "time split"), "grouped": ("#2358a8", "grouped CV")}
    for design, (colour, label) in styles.items():
        sets = (((run.designs or {}).get(design) or {}).get("sets") or {}).get("selected") or {}
        if not sets:
            continue
        levels = sorted(sets, key=float)
        x = [float(level) for level in levels]
        ax.plot(x, [sets[level]["coverage"] for level in levels], marker="o", color=colour, label=f"coverage, {label}")
        sizes.plot(
            x, [sets[level]["mean_size"] for level in levels], marker="s", linestyle=":", color=colour,
            alpha=0.7, label=f"mean set size, {label}",
        )  # fmt: skip
    ax.set_xlim(0.45, 1.0)
    ax.set_ylim(0.45, 1.0)
    sizes.set_ylim(1, 4)
    ax.set_xlabel("Promised coverage (level of the tier set)")
    ax.set_ylabel("Share of anime whose true tier was in the set")
    sizes.set_ylabel("Tiers in the set (mean)")
    ax.set_title("Conformal tier sets: coverage and size")
    lines = ax.get_legend_handles_labels()
    more = sizes.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    return _png(figure)


RENDERERS = {
    "coverage": coverage_chart,
    "confusion": confusion_chart,
    "calibration": calibration_chart,
    "scores": scores_chart,
    "per-tier-f1": per_tier_f1_chart,
}


@lru_cache(maxsize=64)
def _cached(run_id: int, finished: str, name: str) -> bytes:
    return RENDERERS[name](TrainingRun.objects.get(pk=run_id))


def chart_png(run: TrainingRun, name: str) -> bytes:
    return _cached(run.pk, str(run.finished_at), name)
