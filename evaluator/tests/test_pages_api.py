from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from catalog.tiers import TIER_ORDER
from evaluator.models import CommentStatus, Evaluation, TrainingRun
from evaluator.predictor import predictor_forget
from evaluator.services import evaluation_comment_refresh
from evaluator.tests.conftest import SYNOPSIS
from testsupport.fake_gemini import Reply

MARKUP = SYNOPSIS + ' <script>alert("x")</script> <b>bold</b>'


@pytest.fixture
def predictor_forgotten() -> Iterator[None]:
    """For a test that points the active run at another file: the model this process loaded
    (kept per run id) is dropped before it, and again after it, pass or fail, so the next test
    loads the run's real file."""
    predictor_forget()
    try:
        yield
    finally:
        predictor_forget()


def test_it_shows_the_form_with_genres_grouped_by_kind(client, active_run):
    response = client.get("/evaluate/")
    assert response.status_code == 200
    html = response.content.decode()
    for legend in ("<legend>Genres</legend>", "<legend>Themes</legend>", "<legend>Demographics</legend>"):
        assert legend in html
    assert 'name="genres" value="Action"' in html and 'name="genres" value="Isekai"' in html
    assert 'data-counter="synopsis-counter"' in html and "js/evaluate.js" in html
    assert html.count('<option value="TV">TV</option>') == 1  # each type once (DISTINCT, not per anime)
    assert html.count('<option value="Manga">Manga</option>') == 1
    assert " style=" not in html  # the CSP forbids inline styles


def test_it_redirects_a_plain_post_to_the_result_page(client, active_run):
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS, "genres": ["Fantasy", "Romance"], "year": "2020"})
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/evaluate/{evaluation.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert f"badge--{evaluation.tier} badge--large" in html
    assert f"{evaluation.predicted_score:.2f}" in html
    assert html.count('class="prob-bar__meter"') == 4
    for n in evaluation.neighbours:
        assert f'href="/anime/{n["mal_id"]}/"' in html
    assert evaluation.comment.split(".")[0] in html
    assert 'hx-trigger="every 1s"' not in html  # offline comment: final at once


def test_it_swaps_the_result_partial_in_for_htmx(client, active_run):
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS, "genres": ["Fantasy"]}, headers={"HX-Request": "true"})
    evaluation = Evaluation.objects.get()
    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"/evaluate/{evaluation.pk}/"
    html = response.content.decode()
    assert "<html" not in html and 'class="verdict"' in html
    assert '<section id="evaluation-result" class="evaluate__result" aria-live="polite" hx-swap-oob="true">' in html
    assert 'name="synopsis"' in html and "evaluate-errors" not in html  # a clean form, values kept


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"synopsis": ""}, "Synopsis: This field is required."),
        ({"synopsis": "ten chars!"}, "Write at least 30 characters (got 10)."),
        ({"synopsis": "x" * 50_000}, "Keep it under 5,000 characters (got 50,000)."),
        ({"synopsis": SYNOPSIS, "genres": ["Nope"]}, "Unknown genre(s): &#x27;Nope&#x27;."),
        ({"synopsis": SYNOPSIS, "episodes": "-3"}, "Episodes: Must be between 1 and 3000."),
    ],
)
def test_it_shows_form_errors_never_a_500(client, active_run, data, message):
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post("/evaluate/", data, headers=headers)
        assert response.status_code == 200
        assert message in response.content.decode()
    assert Evaluation.objects.count() == 0


def test_it_shows_markup_in_a_synopsis_as_escaped_text(client, active_run):
    response = client.post("/evaluate/", {"synopsis": MARKUP}, follow=True)
    html = response.content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in html
    assert '<script>alert("x")</script>' not in html
    api = client.post("/api/evaluate/", {"synopsis": MARKUP}, content_type="application/json")
    assert api.json()["input"]["synopsis"].endswith('<script>alert("x")</script> <b>bold</b>')


def test_it_still_shows_the_prediction_and_offline_comment_when_gemini_is_slow(
    client, active_run, fake_gemini, settings
):
    settings.EVALUATOR_GEMINI_TIMEOUT = 0.5
    settings.EVALUATOR_GEMINI_RETRIES = 1
    fake_gemini.default = Reply(delay=3.0)
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS}, follow=True)
    evaluation = Evaluation.objects.get()
    html = response.content.decode()
    assert evaluation.comment_status == CommentStatus.PENDING
    assert f"{evaluation.predicted_score:.2f}" in html and evaluation.comment.split(".")[0] in html
    # The comment polls every second while Gemini is on its way …
    poll = client.get(f"/evaluate/{evaluation.pk}/comment/")
    assert poll.status_code == 200 and 'hx-trigger="every 1s"' in poll.content.decode()
    # … and stops (no trigger) once the comment is final, here the offline one after a timeout.
    evaluation_comment_refresh(evaluation_id=str(evaluation.pk))
    poll = client.get(f"/evaluate/{evaluation.pk}/comment/")
    assert "hx-trigger" not in poll.content.decode()
    assert evaluation.comment.split(".")[0] in poll.content.decode()


def test_it_stops_polling_when_the_gemini_comment_arrives(client, active_run, fake_gemini):
    fake_gemini.default = Reply(comment="Gemini says: resembles its neighbours.")
    client.post("/evaluate/", {"synopsis": SYNOPSIS})
    evaluation = Evaluation.objects.get()
    evaluation_comment_refresh(evaluation_id=str(evaluation.pk))
    html = client.get(f"/evaluate/{evaluation.pk}/comment/").content.decode()
    assert "Gemini says: resembles its neighbours." in html and "hx-trigger" not in html


def test_it_answers_404_for_an_unknown_evaluation(client, catalog):
    assert client.get(f"/evaluate/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/api/evaluations/{uuid.uuid4()}/").status_code == 404
    assert client.get("/evaluate/not-a-uuid/").status_code == 404


def test_it_tells_the_user_when_no_model_is_trained(client, catalog):
    TrainingRun.objects.update(is_active=False)
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS})
    assert response.status_code == 200 and "train_classifier" in response.content.decode()
    api = client.post("/api/evaluate/", {"synopsis": SYNOPSIS}, content_type="application/json")
    assert api.status_code == 503
    assert client.get("/model/").status_code == 200


def test_it_says_the_first_model_is_being_trained(client, catalog):
    TrainingRun.objects.update(is_active=False)
    TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).update(status=TrainingRun.Status.FAILED)
    TrainingRun.objects.create(status=TrainingRun.Status.RUNNING)
    message = "The model is being trained right now"
    assert message in client.get("/evaluate/").content.decode()  # before anyone submits
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS})
    assert response.status_code == 200 and message in response.content.decode()
    api = client.post("/api/evaluate/", {"synopsis": SYNOPSIS}, content_type="application/json")
    assert api.status_code == 503 and message in api.json()["detail"]


def test_it_tells_the_user_when_the_active_model_file_is_missing(client, active_run, predictor_forgotten):
    TrainingRun.objects.filter(pk=active_run.pk).update(artifact="run-missing.joblib")
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS})
    assert response.status_code == 200
    assert f"The active model (run {active_run.pk}) cannot be loaded" in response.content.decode()
    api = client.post("/api/evaluate/", {"synopsis": SYNOPSIS}, content_type="application/json")
    assert api.status_code == 503


def test_it_evaluates_through_the_api(client, active_run):
    body = {
        "synopsis": SYNOPSIS,
        "genres": ["Fantasy", "Supernatural"],
        "type": "TV",
        "episodes": 12,
        "year": 2022,
        "studios": ["madhouse", "A Brand New Studio"],
        "rating": "pg-13 - teens 13 or older",
        "duration": 24,
        "season": "Spring",
    }
    response = client.post("/api/evaluate/", body, content_type="application/json")
    assert response.status_code == 201
    data = response.json()
    evaluation = Evaluation.objects.get()
    assert data["id"] == str(evaluation.pk)
    assert data["url"] == f"http://testserver/evaluate/{evaluation.pk}/"
    assert data["tier"] == evaluation.tier and data["predicted_score"] == evaluation.predicted_score
    assert data["probabilities"] == evaluation.probabilities
    assert [n["mal_id"] for n in data["neighbours"]] == [n["mal_id"] for n in evaluation.neighbours]
    assert data["neighbours"][0]["url"] == f"http://testserver/anime/{evaluation.neighbours[0]['mal_id']}/"
    assert data["run_id"] == active_run.pk and data["comment"] == evaluation.comment
    assert data["comment_final"] is True and data["comment_source"] == "offline"
    assert data["input"] == {
        "synopsis": SYNOPSIS,
        "genres": ["Fantasy", "Supernatural"],
        "type": "TV",
        "source": "",
        "episodes": 12,
        "year": 2022,
        "studios": ["Madhouse", "A Brand New Studio"],
        "rating": "PG-13 - Teens 13 or older",
        "duration": 24,
        "season": "spring",
        "sequel_of": None,
    }
    assert data["sequel_of"] is None
    # The tier set: adjacent tiers, best first, holding the predicted tier, at the 90% level.
    order = [t.value for t in TIER_ORDER]
    tiers = data["tier_set"]["tiers"]
    assert tiers == evaluation.tier_set and data["tier_set"]["level"] == 0.9
    assert data["tier"] in tiers and tiers == order[order.index(tiers[0]) : order.index(tiers[0]) + len(tiers)]
    assert data["tier_set"]["text"] in evaluation.comment
    # The reasons: every input given that the model uses (the age rating and the season are
    # not among its features: the ablation dropped them), strongest first, and the studio's
    # record in words.
    keys = [r["key"] for r in data["reasons"]]
    assert set(keys) == {
        "synopsis", "genre:Fantasy", "genre:Supernatural", "type", "episodes", "year", "duration", "studio",
        "neighbours",
    }  # fmt: skip
    effects = [abs(r["effect"]) for r in data["reasons"]]
    assert effects == sorted(effects, reverse=True)
    studio = next(r for r in data["reasons"] if r["key"] == "studio")
    assert studio["label"].startswith("Madhouse's record: ") and "(A Brand New Studio: none)" in studio["label"]

    again = client.post("/api/evaluate/", body, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    detail = client.get(f"/api/evaluations/{evaluation.pk}/")
    assert detail.status_code == 200 and detail.json() == data


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "synopsis", "This field is required."),
        ({"synopsis": "short"}, "synopsis", "Write at least 30 characters (got 5)."),
        ({"synopsis": "y" * 50_000}, "synopsis", "Keep it under 5,000 characters (got 50,000)."),
        ({"synopsis": 42}, "synopsis", "Must be text."),
        ({"synopsis": None}, "synopsis", "This field is required."),
        (
            {"synopsis": SYNOPSIS, "genres": ["Space Opera"]},
            "genres",
            "Unknown genre(s): 'Space Opera'. Valid names are listed at /api/genres/.",
        ),
        ({"synopsis": SYNOPSIS, "year": 1800}, "year", None),
    ],
)
def test_it_answers_400_naming_the_field(client, active_run, body, field, message):
    response = client.post("/api/evaluate/", body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    if message:
        assert response.json()[field] == [message]


def test_it_answers_400_for_a_body_that_is_not_an_object(client, active_run):
    response = client.post("/api/evaluate/", ["a", "list"], content_type="application/json")
    assert response.status_code == 400 and response.json() == {"non_field_errors": ["Send a JSON object."]}
    broken = client.post("/api/evaluate/", "{not json", content_type="application/json")
    assert broken.status_code == 400


def test_it_throttles_each_client(client, active_run, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"evaluate": "3/minute"})
    codes = [
        client.post("/api/evaluate/", {"synopsis": "short"}, content_type="application/json").status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]


def test_it_documents_the_api_in_the_schema(client, catalog):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    post = schema["paths"]["/api/evaluate/"]["post"]
    assert post["operationId"] == "evaluate_anime"
    assert {"200", "201", "400", "429", "503"} <= set(post["responses"])
    request_schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][request_schema]["properties"]) == {
        "synopsis",
        "genres",
        "type",
        "source",
        "episodes",
        "year",
        "studios",
        "rating",
        "duration",
        "season",
        "sequel_of",  # a MAL id; the page's title box is not part of the API
    }
    assert "/api/evaluations/{id}/" in schema["paths"]
    answer = schema["paths"]["/api/evaluate/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    properties = schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"tier_set", "reasons", "sequel_of"} <= set(properties)
    assert schema["paths"]["/api/model/"]["get"]["operationId"] == "model_report"
    upcoming = schema["paths"]["/api/upcoming/"]["get"]
    assert upcoming["operationId"] == "upcoming_list" and {"200", "400"} <= set(upcoming["responses"])
    assert {"genre", "type", "tier", "page"} <= {p["name"] for p in upcoming["parameters"]}


def test_it_reports_the_active_model(client, active_run):
    response = client.get("/model/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Active model: run {active_run.pk} ({active_run.chosen})" in html
    # One table per design, the time split first, each with the chosen model and both baselines.
    assert html.index('id="design-time"') < html.index('id="design-grouped"') < html.index('id="design-random"')
    timed = active_run.designs["time"]
    assert f"Trained on anime that started airing before {timed['cut_year']}" in html
    section = html[html.index('id="design-time"') : html.index('id="design-grouped"')]
    for name in ("selected", "seed-logreg", "majority"):
        assert f"{timed['metrics'][name]['accuracy']:.3f}" in section
    assert "Baseline: seed&#x27;s logistic regression" in section and "Baseline: majority tier" in section
    coverage = timed["sets"]["selected"]["0.9"]
    assert f"{coverage['coverage']:.3f}" in section and f"{coverage['mean_size']:.2f}" in section
    assert "How it was chosen: the configuration with the best mean of accuracy" in html
    assert 'id="phases"' in html
    for name in ("coverage", "confusion", "per-tier-f1", "calibration", "scores"):
        src = f"/model/runs/{active_run.pk}/{name}.png"
        assert src in html
        image = client.get(src)
        assert image.status_code == 200 and image["Content-Type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/model/runs/{active_run.pk}/nope.png").status_code == 404


def test_it_reports_the_active_model_through_the_api(client, active_run):
    data = client.get("/api/model/").json()
    assert data["run_id"] == active_run.pk and data["chosen"] == active_run.chosen
    for design in ("grouped", "time", "random"):
        assert data[design] == active_run.designs[design]["metrics"]["selected"]
        assert data["baselines"]["seed-logreg"][design] == active_run.designs[design]["metrics"]["seed-logreg"]
    assert data["time_split"]["cut_year"] == active_run.designs["time"]["cut_year"]
    assert data["tier_sets"]["time"] == active_run.designs["time"]["sets"]["selected"]["0.9"]
    TrainingRun.objects.update(is_active=False)
    gone = client.get("/api/model/")
    assert gone.status_code == 503 and "No trained model" in gone.json()["detail"]


def test_it_draws_the_report_charts_in_parallel_threads(active_run):
    # The page asks for its four charts at once; each server thread draws its own figure.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from evaluator import charts

    def draw(name: str) -> bytes:
        try:
            return charts.RENDERERS[name](active_run)
        finally:
            connection.close()

    alone = [charts.RENDERERS[name](active_run) for name in charts.CHARTS]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(draw, charts.CHARTS * 2))
    assert all(png.startswith(b"\x89PNG") for png in alone)
    assert together == alone * 2


def test_a_model_file_from_an_older_version_is_unavailable_not_a_500(client, active_run, capsys, predictor_forgotten):
    """An upgrade leaves the active run's artifact pickled with classes that no longer exist: the
    evaluate page says so, and ``train_classifier --if-none-active`` (what `make run` calls)
    trains a new model instead of keeping the unusable one."""
    from pathlib import Path

    from django.conf import settings
    from django.core.management import call_command

    old = Path(settings.VAR_DIR) / "models" / "run-old-version.joblib"
    old.write_bytes(b"cevaluator.training\nEnsembleCandidate\n)\x81.")  # a pickled instance of a gone class
    TrainingRun.objects.filter(pk=active_run.pk).update(artifact=old.name)
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS})
    assert response.status_code == 200
    assert f"The active model (run {active_run.pk}) cannot be loaded" in response.content.decode()
    assert client.post("/api/evaluate/", {"synopsis": SYNOPSIS}, content_type="application/json").status_code == 503

    before = TrainingRun.objects.count()
    call_command("train_classifier", "--if-none-active", "--limit", "120", "--folds", "2", "--no-activate")
    assert "its file cannot be used" in capsys.readouterr().out
    assert TrainingRun.objects.count() == before + 1
