"""Pages of the evaluator: the evaluate form and result (HTMX partials, PRG without JS), the
comment poll, and the model report with its charts."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods

from animesite.throttling import page_throttle
from catalog.models import TierThresholds
from catalog.tiers import TIER_ORDER, Tier
from evaluator import charts, services
from evaluator.features import SEASONS
from evaluator.inputs import SYNOPSIS_MAX, SYNOPSIS_MIN, EvaluationInputError, year_max
from evaluator.models import Evaluation, TrainingRun
from evaluator.selectors import (
    SequelCandidate,
    catalogue_choices,
    evaluation_get,
    sequel_candidate_get,
    sequel_candidates,
    training_runs_history,
)

FIELDS = (
    "synopsis",
    "type",
    "source",
    "episodes",
    "year",
    "studios",
    "rating",
    "duration",
    "season",
    "sequel_of",
    "sequel_of_title",
)


def _form_values(request: HttpRequest) -> dict[str, object]:
    values: dict[str, object] = {name: request.POST.get(name, "") for name in FIELDS}
    values["genres"] = request.POST.getlist("genres")
    return values


def _sequel_chosen(values: dict[str, object]) -> list[SequelCandidate]:
    """The picked "sequel of" suggestion, shown again (ticked) when the form comes back."""
    raw = str(values.get("sequel_of") or "").strip()
    chosen = sequel_candidate_get(int(raw)) if raw.isdigit() and len(raw) < 10 else None
    return [chosen] if chosen else []


def _form_context(values: dict[str, object] | None = None, errors: dict[str, list[str]] | None = None) -> dict:
    choices = catalogue_choices()
    values = values or {"genres": []}
    return {
        "values": values,
        "suggestions": _sequel_chosen(values),
        "errors": errors or {},
        "choices": choices,
        "synopsis_min": SYNOPSIS_MIN,
        "synopsis_max": SYNOPSIS_MAX,
        "year_max": year_max(),
        "seasons": SEASONS,
        "active_run": (active := TrainingRun.objects.active()),
        "model_unavailable": "" if active is not None else services.model_unavailable_reason(),
    }


def result_context(evaluation: Evaluation) -> dict[str, object]:
    thresholds = TierThresholds.objects.current()
    bars = [
        {
            "tier": tier.value,
            "label": tier.label,
            "probability": evaluation.probabilities.get(tier.value, 0.0),
            "percent": round(100 * evaluation.probabilities.get(tier.value, 0.0)),
            "lower_bound": thresholds.cutoffs.lower_bound(tier) if thresholds else None,
        }
        for tier in TIER_ORDER
    ]
    return {"evaluation": evaluation, "tier_label": Tier(evaluation.tier).label, "bars": bars}


@require_http_methods(["GET", "POST"])
def evaluate(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: evaluate; without JS redirect to the result page (PRG), with HTMX
    answer the result partial and push the result URL."""
    if request.method == "GET":
        return render(request, "evaluator/evaluate.html", _form_context())
    if refused := page_throttle(request, "evaluate"):
        return refused
    values = _form_values(request)
    errors: dict[str, list[str]] = {}
    try:
        result = services.evaluation_create(data=values, titles=True)
    except EvaluationInputError as error:
        errors = error.errors
    except services.ModelUnavailable as error:
        errors = {"form": [str(error)]}
    if errors:
        context = {**_form_context(values, errors), "form_invalid": True}
        if request.htmx:
            return render(request, "evaluator/evaluate.html#form", context)
        return render(request, "evaluator/evaluate.html", context)
    evaluation = result.evaluation
    if request.htmx:
        # The form comes back clean (no stale errors) and the result swaps in out of band.
        context = {**_form_context(values), **result_context(evaluation)}
        response = render(request, "evaluator/_htmx_result.html", context)
        response["HX-Push-Url"] = evaluation.get_absolute_url()
        return response
    return redirect(evaluation)


@require_GET
def evaluation_result(request: HttpRequest, pk: str) -> HttpResponse:
    evaluation = evaluation_get(pk)
    if evaluation is None:
        raise Http404("No such evaluation.")
    values = {
        "synopsis": evaluation.synopsis,
        "genres": evaluation.genres,
        "type": evaluation.type,
        "source": evaluation.source,
        "episodes": evaluation.episodes or "",
        "year": evaluation.year or "",
        "studios": ", ".join(evaluation.studios),
        "rating": evaluation.rating,
        "duration": evaluation.duration or "",
        "season": evaluation.season,
        "sequel_of": evaluation.sequel_of_id or "",
        "sequel_of_title": evaluation.sequel_of.title if evaluation.sequel_of else "",
    }
    context = {**_form_context(values), **result_context(evaluation), "show_result": True}
    return render(request, "evaluator/evaluate.html", context)


@require_GET
def sequel_suggestions(request: HttpRequest) -> HttpResponse:
    """The "sequel of" suggestions for what is typed so far (the title box's HTMX partial): a few
    catalogue anime to pick, as radio buttons named ``sequel_of``."""
    query = request.GET.get("sequel_of_title", "")
    context = {"suggestions": sequel_candidates(query), "values": {"sequel_of": ""}, "query": query.strip()}
    return render(request, "evaluator/evaluate.html#sequel-suggestions", context)


@require_GET
def evaluation_comment(request: HttpRequest, pk: str) -> HttpResponse:
    """The comment fragment; it keeps polling (hx-trigger) only while the comment is pending."""
    evaluation = evaluation_get(pk)
    if evaluation is None:
        raise Http404("No such evaluation.")
    return render(request, "evaluator/evaluate.html#comment", {"evaluation": evaluation})


DESIGNS = (
    (
        "time",
        "Time split",
        "Trained on anime that started airing before {cut_year}, tested on the {test} scored anime from "
        "{cut_year} on: the question you ask about an anime that is not out yet.",
    ),
    (
        "grouped",
        "Franchise-grouped cross-validation",
        "{folds}-fold CV where a franchise's sequels and spin-offs never sit on both sides of a split.",
    ),
    (
        "random",
        "Random split",
        "{folds}-fold CV with random folds: sequels leak across them, so this flatters every model. "
        "Shown to compare with the seed project's figure, never used to choose.",
    ),
)
MODEL_LABELS = {
    "selected": "Chosen model (nested selection)",
    "ensemble": "Ensemble (logistic + ridge)",
    "logreg": "Logistic regression",
    "ridge": "Ridge score regressor",
    "seed-logreg": "Baseline: seed's logistic regression",
    "majority": "Baseline: majority tier",
}


def model_designs(run: TrainingRun) -> list[dict[str, object]]:
    """The run's figures per test design, as the report's tables show them."""
    out = []
    for key, title, description in DESIGNS:
        design = (run.designs or {}).get(key)
        if not design:
            continue
        level = "0.9"
        rows = [
            {
                "name": name,
                "label": MODEL_LABELS.get(name, name),
                "metrics": metrics,
                "set": (design.get("sets", {}).get(name) or {}).get(level),
                "chosen": name == "selected",
                "baseline": name in ("seed-logreg", "majority"),
            }
            for name, metrics in design["metrics"].items()
        ]
        out.append({"key": key, "title": title, "description": description.format(**design), "rows": rows, **design})
    return out


@require_GET
def model_report(request: HttpRequest) -> HttpResponse:
    run = TrainingRun.objects.active()
    per_tier = (
        [
            {
                "tier": t.value,
                "label": t.label,
                "f1": run.per_tier_f1.get(t.value),
                "percent": round(100 * (run.per_tier_f1.get(t.value) or 0)),
            }
            for t in TIER_ORDER
        ]
        if run
        else []
    )
    time_sets = ((run.designs or {}).get("time") or {}).get("sets", {}).get("selected", {}) if run else {}
    context = {
        "run": run,
        "designs": model_designs(run) if run else [],
        "time_set": time_sets.get("0.9"),
        "per_tier": per_tier,
        "phases": {k: v for k, v in (run.phases or {}).items() if not isinstance(v, dict)} if run else {},
        "history": training_runs_history()[:50],
        "thresholds": TierThresholds.objects.current(),
        "tiers": TIER_ORDER,
    }
    return render(request, "evaluator/model.html", context)


@require_GET
@cache_control(max_age=3600)
def model_chart(request: HttpRequest, run_id: int, name: str) -> HttpResponse:
    """A chart of a run as PNG (an <img>: inline SVG would need inline styles, which the CSP
    forbids)."""
    run = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.SUCCEEDED).first()
    if run is None or name not in charts.CHARTS:
        raise Http404("No such chart.")
    return HttpResponse(charts.chart_png(run, name), content_type="image/png")
