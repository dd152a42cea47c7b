"""Upcoming anime: the refresh service with the session's real model, the page and the API (one
filter), the empty states, the home page's strip and the refresh after an activation."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core.management import call_command

from catalog.models import Anime
from evaluator.dataset import anime_input
from evaluator.models import TrainingRun, UpcomingPrediction, season_key
from evaluator.predictor import predictor_for
from evaluator.services import training_run_activate
from evaluator.upcoming.selectors import season_next, upcoming_anime, upcoming_promising
from evaluator.upcoming.services import upcoming_refresh, upcoming_refresh_dispatch


@pytest.fixture
def active_run(active_run, upcoming_embedded) -> TrainingRun:
    """The session's model, with the upcoming anime's synopses in the embedding cache."""
    return active_run


@pytest.fixture
def refreshed(active_run) -> TrainingRun:
    """The active run's predictions of every upcoming anime, stored."""
    result = upcoming_refresh()
    assert result.skipped == "" and result.predicted > 0
    return active_run


def _expected_ids(queryset) -> list[int]:
    return list(queryset.order_by("season_key", "-predicted_score", "anime_id").values_list("anime_id", flat=True))


def test_it_predicts_every_anime_with_no_score_yet_with_the_active_model(active_run):
    expected = set(upcoming_anime().values_list("mal_id", flat=True))
    assert expected and all(
        a.status == Anime.Status.UPCOMING or (a.status == Anime.Status.AIRING and a.score is None)
        for a in Anime.objects.filter(mal_id__in=expected)
    )

    result = upcoming_refresh()

    assert result.run_id == active_run.pk and result.predicted == len(expected) and result.removed == 0
    rows = UpcomingPrediction.objects.select_related("anime")
    assert set(rows.values_list("anime_id", flat=True)) == expected
    assert set(rows.values_list("run_id", flat=True)) == {active_run.pk}
    # A stored row is what the model says of that anime (its own prediction, reasons included).
    row = rows.exclude(anime__synopsis="").order_by("anime_id").first()
    prediction = predictor_for(active_run.pk, active_run.artifact).predict(anime_input(row.anime))
    assert row.tier == prediction.tier and row.tier_set == prediction.tier_set
    assert row.predicted_score == pytest.approx(prediction.predicted_score, abs=0.011)
    assert [r["key"] for r in row.reasons] == [r.key for r in prediction.reasons]
    airing = row.anime.status == Anime.Status.AIRING
    assert row.season_key == season_key(row.anime.year, row.anime.season, airing=airing)
    assert row.season_label == "Airing now, no score yet" if airing else row.season_label != ""
    assert rows.filter(season_key=0).count() == upcoming_anime().filter(status=Anime.Status.AIRING).count() > 0

    again = upcoming_refresh()  # replaces, never adds
    assert again.removed == len(expected) and UpcomingPrediction.objects.count() == len(expected)


def test_it_predicts_nothing_without_an_active_model(catalog):
    TrainingRun.objects.update(is_active=False)
    result = upcoming_refresh()
    assert result.skipped == "no active model" and result.predicted == 0
    assert not UpcomingPrediction.objects.exists()


def test_the_command_refreshes_and_reports(active_run, capsys):
    call_command("refresh_upcoming")
    out = capsys.readouterr().out
    count = upcoming_anime().count()
    assert f"{count:,} upcoming anime predicted with run {active_run.pk}" in out
    assert UpcomingPrediction.objects.count() == count


def test_an_activation_refreshes_the_predictions(active_run, settings, django_capture_on_commit_callbacks):
    settings.UPCOMING_AUTO_REFRESH = True
    with django_capture_on_commit_callbacks(execute=True):
        training_run_activate(run=active_run)
    assert UpcomingPrediction.objects.filter(run=active_run).count() == upcoming_anime().count()


def test_it_lists_them_by_season_soonest_first_with_their_predictions(client, refreshed):
    response = client.get("/upcoming/")
    assert response.status_code == 200
    html = response.content.decode()
    first_page = _expected_ids(UpcomingPrediction.objects.filter(anime__adult=False))[:24]
    shown = [int(i) for i in re.findall(r'data-mal-id="(\d+)"', html)]
    assert shown == first_page
    rows = {p.anime_id: p for p in UpcomingPrediction.objects.filter(anime_id__in=first_page)}
    headings = re.findall(r'class="upcoming-season__h" id="season-\d+">([^<]+)</h2>', html)
    assert headings == list(dict.fromkeys(rows[i].season_label for i in first_page))
    top = rows[first_page[0]]
    assert f"Predicted</span> {top.predicted_score:.2f}" in html and top.tier_set_text in html
    assert f"model run {refreshed.pk}" in html
    assert f"<strong>{UpcomingPrediction.objects.count()}</strong> upcoming anime" in html
    # Page 2 goes on where page 1 stopped.
    page2 = client.get("/upcoming/?page=2").content.decode()
    assert [int(i) for i in re.findall(r'data-mal-id="(\d+)"', page2)][:3] == _expected_ids(
        UpcomingPrediction.objects.all()
    )[24:27]


def test_the_page_and_the_api_filter_alike(client, refreshed):
    expected = _expected_ids(
        UpcomingPrediction.objects.filter(anime__genres__name="Action", anime__type="TV", anime__adult=False)
    )
    assert expected
    api = client.get("/api/upcoming/?genre=action&type=tv&page_size=100")
    assert api.status_code == 200
    body = api.json()
    assert body["count"] == len(expected) and [r["anime"]["mal_id"] for r in body["results"]] == expected
    first = body["results"][0]
    row = UpcomingPrediction.objects.get(anime_id=first["anime"]["mal_id"])
    assert first["tier"] == row.tier and first["predicted_score"] == row.predicted_score
    assert first["tier_set"] == {"tiers": row.tier_set, "text": row.tier_set_text, "level": row.tier_set_level}
    assert first["season"] == {
        "airing": row.airing,
        "year": row.year,
        "season": row.season,
        "label": row.season_label,
    }
    assert (first["anime"]["year"], first["anime"]["season"]) == (row.anime.year, row.anime.season)
    assert first["reasons"] == row.reasons and first["run_id"] == refreshed.pk

    page = client.get("/upcoming/?genre=action&type=tv", headers={"HX-Request": "true"})
    html = page.content.decode()
    assert "<html" not in html  # the results partial
    assert [int(i) for i in re.findall(r'data-mal-id="(\d+)"', html)] == expected[:24]


def test_it_filters_by_the_predicted_tier(client, refreshed):
    tier = UpcomingPrediction.objects.values_list("tier", flat=True).first()
    expected = _expected_ids(UpcomingPrediction.objects.filter(tier=tier))
    body = client.get(f"/api/upcoming/?tier={tier.upper()}&page_size=100").json()
    assert [r["anime"]["mal_id"] for r in body["results"]] == expected[:100]
    assert {r["tier"] for r in body["results"]} == {tier}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("genre=Nope", "genre", "Unknown genre 'Nope'."),
        ("year_min=abc", "year_min", "Enter a number."),
        ("tier=great", "tier", "'great' is not a valid choice."),
        ("page=999", "page", "Page 999 does not exist"),
        ("page=abc", "page", "'abc' is not a page number"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client, refreshed, query, field, message):
    response = client.get(f"/api/upcoming/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field] and message in response.json()[field][0]


def test_bad_filters_are_a_form_error_on_the_page(client, refreshed):
    response = client.get("/upcoming/?genre=Nope&year_min=abc")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters could not be applied." in html
    assert "Unknown genre &#x27;Nope&#x27;." in html and "Enter a number." in html
    assert "data-mal-id" not in html


def test_the_empty_states_say_what_is_happening(client, catalog, active_run):
    # An active model that has not predicted them yet.
    html = client.get("/upcoming/").content.decode()
    assert f"the active model (run {active_run.pk}) has not predicted them yet" in html
    # No model at all.
    TrainingRun.objects.update(is_active=False)
    html = client.get("/upcoming/").content.decode()
    assert "No trained model is active yet" in html and "data-mal-id" not in html
    strip = client.get("/upcoming/promising/").content.decode()
    assert "No trained model is active yet" in strip and 'href="/upcoming/"' in strip
    # Nothing upcoming in the catalogue.
    upcoming_anime().update(status=Anime.Status.FINISHED, score=7.0)
    html = client.get("/upcoming/").content.decode()
    assert "Nothing upcoming." in html


def test_filters_that_match_nothing_say_so(client, refreshed):
    html = client.get("/upcoming/?genre=Action&genre=Kids&genre=Horror&genre=Josei").content.decode()
    assert "No upcoming anime match these filters." in html


def test_the_home_page_shows_the_next_seasons_most_promising(client, refreshed):
    home = client.get("/").content.decode()
    assert 'hx-get="/upcoming/promising/"' in home and 'href="/upcoming/"' in home
    assert 'href="/upcoming/"' in home.split('aria-label="Main"')[1].split("</nav>")[0]  # the nav link

    # On 15 January 2026 the next season is spring 2026.
    spring = season_key(2026, "spring")
    assert season_next(datetime.date(2026, 1, 15)) == spring
    assert season_next(datetime.date(2026, 12, 5)) == season_key(2027, "winter")
    promising = upcoming_promising(today=datetime.date(2026, 1, 15))
    expected = list(
        UpcomingPrediction.objects.filter(season_key=spring, anime__adult=False)
        .order_by("-predicted_score", "anime_id")
        .values_list("anime_id", flat=True)[:4]
    )
    assert expected and [p.anime_id for p in promising] == expected

    strip = client.get("/upcoming/promising/").content.decode()
    soonest = upcoming_promising()
    assert f"Most promising next season: {soonest[0].season_label}" in strip
    assert [int(i) for i in re.findall(r'data-mal-id="(\d+)"', strip)] == [p.anime_id for p in soonest]


def test_the_dispatch_refreshes_where_it_is_asked_and_never_when_turned_off(active_run, settings):
    settings.UPCOMING_AUTO_REFRESH = False
    assert upcoming_refresh_dispatch() is None and not UpcomingPrediction.objects.exists()
    settings.UPCOMING_AUTO_REFRESH = True
    dispatched = upcoming_refresh_dispatch()  # no broker (Celery eager): run here, as after a crawl
    assert dispatched is not None and dispatched.how == "inline"
    assert UpcomingPrediction.objects.count() == upcoming_anime().count()
