from __future__ import annotations

import json
import logging
import re

import pytest

from evaluator import services
from evaluator.comment import Evidence, Neighbour, gemini_prompt, offline_comment
from evaluator.models import CommentStatus, Evaluation
from evaluator.services import evaluation_comment_refresh, evaluation_create
from evaluator.tests.conftest import SYNOPSIS
from testsupport.fake_gemini import Reply, candidate_response

EVIDENCE = Evidence(
    tier="worthwhile",
    probabilities={"top-tier": 0.22, "worthwhile": 0.41, "watchable": 0.25, "terrible": 0.12},
    predicted_score=7.61,
    neighbours=[
        Neighbour(mal_id=1, title="Cowboy Bebop", score=8.75, tier="top-tier", similarity=0.61),
        Neighbour(mal_id=2, title="Trigun", score=7.83, tier="worthwhile", similarity=0.58),
        Neighbour(mal_id=3, title="Outlaw Star", score=7.4, tier="watchable", similarity=0.55),
    ],
    genre_effects={"Sci-Fi": 0.12, "Ecchi": -0.2, "Comedy": 0.001},
)


def test_it_writes_an_offline_comment_from_the_evidence():
    text = offline_comment(EVIDENCE)
    assert text.startswith("The model is unsure: it settles on Worthwhile (41%)")
    assert "predicted MyAnimeList score of 7.61; Watchable follows at 25%." in text
    assert "Cowboy Bebop (8.75, Top-tier), Trigun (7.83, Worthwhile) and Outlaw Star (7.40, Watchable)" in text
    assert "average 7.99" in text
    assert "Sci-Fi (+0.12) pushes the predicted score up; Ecchi (-0.20) pulls it down." in text
    assert "Comedy" not in text  # too small an effect to mention


REASONED = Evidence(
    **{
        **EVIDENCE.__dict__,
        "tier_set": ["top-tier", "worthwhile", "watchable"],
        "set_level": 0.9,
        "reasons": [
            {"key": "studio", "label": "Madhouse's record: 95 earlier anime averaging 7.89", "effect": 0.19},
            {"key": "synopsis", "label": "The synopsis's wording", "effect": -0.1},
            {"key": "genre:Drama", "label": "Drama", "effect": 0.085},
            {"key": "duration", "label": "24 min per episode", "effect": 0.004},
        ],
    }
)


def test_it_explains_the_verdict_with_the_tier_set_and_the_reasons():
    text = offline_comment(REASONED)
    assert (
        "With 90% certainty it is Watchable, Worthwhile or Top-tier (the set is wide: the evidence is mixed)." in text
    )
    assert (
        "What lifts the predicted score most: Madhouse's record: 95 earlier anime averaging 7.89 (+0.19) "
        "and Drama (+0.09)." in text
    )
    assert "What holds it back: The synopsis's wording (-0.10)." in text
    assert "24 min" not in text  # too small an effect to mention


def test_it_says_confident_when_the_top_probability_is_high():
    confident = Evidence(
        **{
            **EVIDENCE.__dict__,
            "probabilities": {"top-tier": 0.7, "worthwhile": 0.2, "watchable": 0.07, "terrible": 0.03},
            "tier": "top-tier",
        }
    )
    assert offline_comment(confident).startswith("The model is fairly confident in Top-tier (70%)")


def test_it_explains_a_middle_tier_chosen_over_a_likelier_one():
    middle = Evidence(
        **{
            **EVIDENCE.__dict__,
            "tier": "watchable",
            "probabilities": {"top-tier": 0.1, "worthwhile": 0.28, "watchable": 0.27, "terrible": 0.35},
        }
    )
    text = offline_comment(middle)
    assert text.startswith(
        "The model is unsure: it settles on Watchable (27%), with a predicted MyAnimeList score of 7.61; "
        "Terrible is likelier on its own (35%), but Watchable is the safer middle."
    )


def test_it_grounds_the_gemini_prompt_on_the_evidence_only():
    prompt = gemini_prompt(EVIDENCE)
    data = json.loads(prompt.split("\n", 1)[1])
    assert set(data) == {
        "tier",
        "probabilities",
        "predicted_score",
        "neighbours",
        "genre_effects",
        "top_probability",
        "unsure",
        "tier_set",
        "set_level",
        "reasons",
    }
    assert data["unsure"] is True and data["tier"] == "Worthwhile"
    with_reasons = gemini_prompt(REASONED)
    data = json.loads(with_reasons.split("\n", 1)[1])
    assert data["tier_set"] == {"tiers": "Watchable, Worthwhile or Top-tier", "level": 0.9}
    assert data["reasons"][0] == {
        "input": "Madhouse's record: 95 earlier anime averaging 7.89",
        "effect_on_score": 0.19,
    }
    assert [n["title"] for n in data["neighbours"]] == ["Cowboy Bebop", "Trigun", "Outlaw Star"]


@pytest.fixture
def pending(active_run, fake_gemini) -> Evaluation:
    result = evaluation_create(data={"synopsis": SYNOPSIS, "genres": ["Fantasy"]})
    evaluation = result.evaluation
    assert evaluation.comment_status == CommentStatus.PENDING and evaluation.comment_source == "offline"
    return evaluation


def test_it_replaces_the_offline_comment_with_gemini_s(pending, fake_gemini):
    offline = pending.comment
    assert evaluation_comment_refresh(evaluation_id=str(pending.pk)) is True
    pending.refresh_from_db()
    assert pending.comment == "A grounded comment from the fake Gemini." or pending.comment.endswith(
        "A grounded comment from the fake Gemini."
    )
    assert pending.comment != offline
    assert (pending.comment_source, pending.comment_status) == ("gemini", CommentStatus.FINAL)
    # google-genai 3.x talks to the v1 endpoint by default (v1beta when GOOGLE_GENAI_API_VERSION=beta).
    assert len(fake_gemini.paths) == 1
    assert re.fullmatch(r"/v1(beta)?/models/gemini-2\.5-flash:generateContent", fake_gemini.paths[0])
    assert fake_gemini.api_keys == ["test-key"]
    request = fake_gemini.requests[0]
    assert request["generationConfig"]["responseMimeType"] == "application/json"
    assert request["generationConfig"]["responseSchema"]["required"] == ["comment", "unsure"]
    assert "Use ONLY the JSON evidence" in request["systemInstruction"]["parts"][0]["text"]
    evidence = json.loads(request["contents"][0]["parts"][0]["text"].split("\n", 1)[1])
    assert evidence["predicted_score"] == pending.predicted_score
    assert [n["mal_id"] for n in evidence["neighbours"]] == [n["mal_id"] for n in pending.neighbours]
    assert SYNOPSIS[:40] not in request["contents"][0]["parts"][0]["text"]  # grounded on the prediction only


def test_it_retries_after_429_then_succeeds(pending, fake_gemini):
    fake_gemini.script = [Reply(status=429), Reply(comment="Second time lucky.")]
    assert evaluation_comment_refresh(evaluation_id=str(pending.pk)) is True
    pending.refresh_from_db()
    assert pending.comment.endswith("Second time lucky.") and pending.comment_source == "gemini"
    assert len(fake_gemini.requests) == 2


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param([Reply(status=500)] * 3, id="500"),
        pytest.param([Reply(body="<html>502 Bad Gateway</html>")], id="malformed-body"),
        pytest.param([Reply(body=json.dumps(candidate_response("not json at all")))], id="malformed-json-text"),
        pytest.param([Reply(body=json.dumps(candidate_response('{"unsure": true}')))], id="json-without-comment"),
        pytest.param([Reply(status=400)], id="400"),
    ],
)
def test_it_keeps_the_offline_comment_when_gemini_fails(pending, fake_gemini, caplog, replies):
    fake_gemini.script = list(replies)
    offline = pending.comment
    with caplog.at_level(logging.WARNING, logger="evaluator.services"):
        assert evaluation_comment_refresh(evaluation_id=str(pending.pk)) is False
    pending.refresh_from_db()
    assert (pending.comment, pending.comment_source, pending.comment_status) == (
        offline,
        "offline",
        CommentStatus.FINAL,
    )
    assert "Gemini comment failed" in caplog.text


def test_it_keeps_the_offline_comment_when_gemini_times_out(pending, fake_gemini, settings, caplog):
    settings.EVALUATOR_GEMINI_TIMEOUT = 0.5
    settings.EVALUATOR_GEMINI_RETRIES = 1
    fake_gemini.script = [Reply(delay=3.0)]
    offline = pending.comment
    with caplog.at_level(logging.WARNING, logger="evaluator.services"):
        assert evaluation_comment_refresh(evaluation_id=str(pending.pk)) is False
    # The client gave up on its read timeout, once (no retry), and did not wait for the reply.
    assert caplog.messages == [
        f"Gemini comment failed for evaluation {pending.pk}, keeping the offline one: ReadTimeout: timed out"
    ]
    assert fake_gemini.paths == ["/v1/models/gemini-2.5-flash:generateContent"]
    pending.refresh_from_db()
    assert (pending.comment, pending.comment_source, pending.comment_final) == (offline, "offline", True)


def test_it_keeps_the_offline_comment_without_an_api_key(pending, settings, caplog):
    settings.GEMINI_API_KEY = ""
    with caplog.at_level(logging.WARNING, logger="evaluator.services"):
        assert evaluation_comment_refresh(evaluation_id=str(pending.pk)) is False
    pending.refresh_from_db()
    assert pending.comment_source == "offline" and pending.comment_final
    assert "GEMINI_API_KEY" in caplog.text


def test_it_queues_the_gemini_comment_after_commit(
    active_run, fake_gemini, monkeypatch, django_capture_on_commit_callbacks
):
    queued: list[str] = []
    monkeypatch.setattr(services, "comment_dispatch", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = evaluation_create(data={"synopsis": SYNOPSIS}).evaluation
    assert queued == [str(evaluation.pk)]
    assert fake_gemini.requests == []  # nothing waited for Gemini inside the request
