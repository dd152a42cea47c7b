from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Anime
from catalog.tiers import TIER_ORDER
from evaluator import predictor
from evaluator.inputs import EvaluationInputError, evaluation_input_clean
from evaluator.models import Evaluation, TrainingRun
from evaluator.services import ModelUnavailable, evaluation_create, training_run_activate
from evaluator.tests.conftest import SYNOPSIS


def _errors(data: dict) -> dict[str, list[str]]:
    with pytest.raises(EvaluationInputError) as caught:
        evaluation_input_clean(data)
    return caught.value.errors


@pytest.mark.parametrize(
    ("synopsis", "message"),
    [
        ("", "This field is required."),
        ("   \n  ", "Write at least 30 characters (got 0)."),
        ("ten chars!", "Write at least 30 characters (got 10)."),
        ("x" * 50_000, "Keep it under 5,000 characters (got 50,000)."),
        (12345, "Must be text."),
        (["a list"], "Must be text."),
        ({"an": "object"}, "Must be text."),
    ],
)
def test_it_rejects_a_bad_synopsis_naming_the_field(catalog, synopsis, message):
    assert _errors({"synopsis": synopsis}) == {"synopsis": [message]}


def test_it_counts_the_synopsis_length_after_trimming(catalog):
    item = evaluation_input_clean({"synopsis": "   " + "a" * 30 + "   \n"})
    assert item.synopsis == "a" * 30
    assert _errors({"synopsis": "   " + "a" * 29 + "   "})["synopsis"] == ["Write at least 30 characters (got 29)."]


def test_it_rejects_unknown_genres_and_bad_numbers(catalog):
    errors = _errors(
        {"synopsis": SYNOPSIS, "genres": ["Action", "Cyberpunkish"], "episodes": 0, "year": "soon", "type": "Podcast"}
    )
    assert errors["genres"] == ["Unknown genre(s): 'Cyberpunkish'. Valid names are listed at /api/genres/."]
    assert errors["episodes"] == ["Must be between 1 and 3000."]
    assert errors["year"][0].startswith("Must be a whole number between 1917 and")
    assert errors["type"][0].startswith("Unknown type 'Podcast'; choose one of: ")
    assert _errors({"synopsis": SYNOPSIS, "genres": "Action,Drama"}) == {
        "genres": ["Unknown genre(s): 'Action,Drama'. Valid names are listed at /api/genres/."]
    }
    assert _errors({"synopsis": SYNOPSIS, "genres": [1, 2]}) == {"genres": ["Must be a list of genre names."]}
    assert _errors({"synopsis": SYNOPSIS, "episodes": True}) == {
        "episodes": ["Must be a whole number between 1 and 3000."]
    }


def test_it_normalises_genre_case_and_order(catalog):
    item = evaluation_input_clean({"synopsis": SYNOPSIS, "genres": ["drama", "ACTION", "Drama"], "type": "tv"})
    assert item.genres == ("Action", "Drama")
    assert item.type == "TV"


def test_it_evaluates_with_the_active_run(active_run):
    result = evaluation_create(data={"synopsis": SYNOPSIS, "genres": ["Fantasy", "Supernatural"], "year": 2021})
    evaluation = result.evaluation
    assert result.created
    assert evaluation.run_id == active_run.pk
    assert evaluation.tier in {t.value for t in TIER_ORDER}
    assert list(evaluation.probabilities) == [t.value for t in TIER_ORDER]
    assert sum(evaluation.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert 1.0 < evaluation.predicted_score < 10.0
    assert len(evaluation.neighbours) == 5
    similarities = [n["similarity"] for n in evaluation.neighbours]
    assert similarities == sorted(similarities, reverse=True)
    for neighbour in evaluation.neighbours:
        anime = Anime.objects.get(mal_id=neighbour["mal_id"])
        assert (neighbour["score"], neighbour["tier"]) == (anime.score, anime.tier)
    assert set(evaluation.genre_effects) == {"Fantasy", "Supernatural"}
    assert evaluation.comment_source == "offline" and evaluation.comment_final
    assert evaluation.neighbours[0]["title"] in evaluation.comment
    assert evaluation.tier in evaluation.tier_set and evaluation.tier_set_level == 0.9
    # The strongest reasons are named in the comment.
    strongest = [r for r in evaluation.reasons if abs(r["effect"]) >= 0.01][:1]
    assert all(r["label"] in evaluation.comment for r in strongest)


def test_its_reasons_are_the_model_s_own_effects(active_run):
    """Each reason's effect is the predicted score minus the prediction with that input at the
    training average: recomputing it through the model gives the same number."""
    from evaluator.features import AnimeInput

    run_predictor = predictor.predictor_for(active_run.pk, active_run.artifact)
    item = AnimeInput(synopsis=SYNOPSIS, genres=("Drama",), studios=("Madhouse",), episodes=24, duration=24)
    prediction = run_predictor.predict(item)
    embedding = predictor.embed_inputs([item], run_predictor.spec, cached=False)
    X = run_predictor.design(item, embedding)
    _, base = run_predictor.model.predict(X)
    assert base[0] == pytest.approx(prediction.predicted_score, abs=0.01)
    columns = run_predictor.input_columns
    for key in ("studio", "episodes"):
        neutral = X.copy()
        neutral[0, columns[key]] = run_predictor.model.column_means[columns[key]]
        _, moved = run_predictor.model.predict(neutral)
        reason = next(r for r in prediction.reasons if r.key == key)
        assert reason.effect == pytest.approx(base[0] - moved[0], abs=1e-3)
    # Inputs left out are not reasons, and they sit at the training average, not at "unknown".
    assert not {r.key for r in prediction.reasons} & {"type", "source", "year", "rating"}
    assert np.allclose(X[0, columns["type"]], run_predictor.model.column_means[columns["type"]])


def test_a_studio_with_a_strong_record_lifts_the_prediction(active_run):
    """Same synopsis, a studio whose earlier anime scored high against one whose anime scored low."""
    from evaluator.features import AnimeInput

    run_predictor = predictor.predictor_for(active_run.pk, active_run.artifact)
    encoder = run_predictor.model.encoder
    records = {s: encoder.studio_record((s,)) for s in encoder.by_studio}
    seasoned = [s for s, r in records.items() if r.count >= 3]
    best = max(seasoned, key=lambda s: records[s].mean_score)
    worst = min(seasoned, key=lambda s: records[s].mean_score)
    high = run_predictor.predict(AnimeInput(synopsis=SYNOPSIS, studios=(best,)))
    low = run_predictor.predict(AnimeInput(synopsis=SYNOPSIS, studios=(worst,)))
    assert high.predicted_score > low.predicted_score
    assert next(r for r in high.reasons if r.key == "studio").effect > 0
    assert next(r for r in low.reasons if r.key == "studio").effect < 0


def test_it_finds_a_catalogue_anime_nearest_to_itself(active_run):
    anime = Anime.objects.filter(mal_id__in=active_run_ids(active_run)).exclude(synopsis="").first()
    evaluation = evaluation_create(data={"synopsis": anime.synopsis[:5000]}).evaluation
    assert evaluation.neighbours[0]["mal_id"] == anime.mal_id
    assert evaluation.neighbours[0]["similarity"] > 0.95


def active_run_ids(run: TrainingRun) -> list[int]:
    return [int(i) for i in predictor.predictor_for(run.pk, run.artifact).catalogue_ids[:50]]


def test_it_returns_the_stored_result_for_the_same_input(active_run):
    first = evaluation_create(data={"synopsis": SYNOPSIS, "genres": ["Drama", "Fantasy"]})
    again = evaluation_create(
        data={"synopsis": "  " + SYNOPSIS.replace(" ", "  ") + "\n", "genres": ["fantasy", "Drama"]}
    )
    assert first.created and not again.created
    assert again.evaluation.pk == first.evaluation.pk
    assert Evaluation.objects.count() == 1
    other = evaluation_create(data={"synopsis": SYNOPSIS, "genres": ["Drama"]})
    assert other.created and Evaluation.objects.count() == 2


def test_it_answers_again_under_a_newly_activated_run_and_reloads_the_model(active_run):
    first = evaluation_create(data={"synopsis": SYNOPSIS}).evaluation
    clone = TrainingRun.objects.get(pk=active_run.pk)
    clone.pk = None
    clone.is_active = False
    clone.save()
    training_run_activate(run=clone)
    second = evaluation_create(data={"synopsis": SYNOPSIS}).evaluation
    assert second.pk != first.pk and second.run_id == clone.pk
    assert predictor._loaded["active"][0] == clone.pk  # the process reloaded for the new run


def test_it_says_when_no_model_is_active(catalog):
    TrainingRun.objects.update(is_active=False)
    with pytest.raises(ModelUnavailable, match="train_classifier"):
        evaluation_create(data={"synopsis": SYNOPSIS})


def test_it_evaluates_from_the_command_line(active_run, capsys):
    call_command("evaluate_anime", "--synopsis", SYNOPSIS, "--genre", "Fantasy", "--genre", "Romance", "--type", "TV")
    out = capsys.readouterr().out
    evaluation = Evaluation.objects.get()
    assert f"predicted score: {evaluation.predicted_score:.2f}" in out
    assert evaluation.neighbours[0]["title"] in out
    assert evaluation.genres == ["Fantasy", "Romance"] and evaluation.type == "TV"
    with pytest.raises(CommandError, match="Unknown genre"):
        call_command("evaluate_anime", "--synopsis", SYNOPSIS, "--genre", "Nope")


def test_a_sequel_of_a_well_rated_anime_is_told_its_franchise_record(active_run):
    """A user's "sequel of" reaches the franchise history: the reason names the earlier entry,
    and following a high-scoring anime predicts higher than following a low-scoring one."""
    from evaluator.features import AnimeInput

    run_predictor = predictor.predictor_for(active_run.pk, active_run.artifact)
    pool = run_predictor.model.encoder.franchise.pool
    best = max(pool.values(), key=lambda e: e.score)
    worst = min(pool.values(), key=lambda e: e.score)
    high = run_predictor.predict(AnimeInput(synopsis=SYNOPSIS, follows=(best.mal_id,)))
    low = run_predictor.predict(AnimeInput(synopsis=SYNOPSIS, follows=(worst.mal_id,)))
    reason = next(r for r in high.reasons if r.key == "franchise")
    title = Anime.objects.get(mal_id=best.mal_id).title
    assert reason.label.startswith(f"Follows {title}: {best.score:.2f} from {best.votes:,} votes")
    assert high.predicted_score > low.predicted_score
    assert reason.effect > 0 > next(r for r in low.reasons if r.key == "franchise").effect
    # Without "sequel of" there is no franchise reason.
    alone = run_predictor.predict(AnimeInput(synopsis=SYNOPSIS))
    assert "franchise" not in {r.key for r in alone.reasons}


@pytest.mark.parametrize("requests", ["0", "-5"])
def test_evaluate_bench_refuses_fewer_than_one_request(requests: str):
    with pytest.raises(CommandError, match="--requests must be at least 1"):
        call_command("evaluate_bench", "--requests", requests)
