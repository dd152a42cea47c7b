"""The evaluator's "sequel of" input: a MAL id in the API, a title or a picked suggestion on the
page, an error naming the field when it fits no anime or several, and "Sequel of" on the result."""

from __future__ import annotations

import re

import pytest

from catalog.models import Anime
from evaluator.inputs import EvaluationInputError, evaluation_input_clean
from evaluator.models import Evaluation
from evaluator.tests.conftest import SYNOPSIS

FRIEREN = 52991  # Sousou no Frieren


def test_sequel_of_becomes_the_inputs_follows(catalog):
    item = evaluation_input_clean({"synopsis": SYNOPSIS, "sequel_of": FRIEREN})
    assert item.follows == (FRIEREN,)
    assert evaluation_input_clean({"synopsis": SYNOPSIS}).follows == ()
    # The page's title box, resolved to the anime it names.
    item = evaluation_input_clean({"synopsis": SYNOPSIS, "sequel_of_title": "sousou no frieren"}, titles=True)
    assert item.follows == (FRIEREN,)
    # The API has no title box: the field is not read there.
    assert evaluation_input_clean({"synopsis": SYNOPSIS, "sequel_of_title": "sousou no frieren"}).follows == ()


@pytest.mark.parametrize(
    ("title", "mal_id"),
    [
        ("Sousou no Frieren", FRIEREN),
        ("Sousou no Frieren (2023, TV)", FRIEREN),  # a suggestion's label
        ("Hunter x Hunter", 136),  # its main title; the 2011 series' is "Hunter x Hunter (2011)"
        ("Hunter x Hunter (2011)", 11061),
        ("naruto", 20),
    ],
)
def test_a_title_resolves_to_the_one_anime_it_names(catalog, title, mal_id):
    assert evaluation_input_clean({"synopsis": SYNOPSIS, "sequel_of_title": title}, titles=True).follows == (mal_id,)


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("zzzqqq nothing", "No anime in the catalogue has a title like 'zzzqqq nothing'."),
        ("fullmetal", "'fullmetal' fits several anime: Fullmetal Alchemist: Brotherhood (2009, TV); Fullmetal"),
    ],
)
def test_a_title_fitting_none_or_several_is_an_error_of_the_field(catalog, title, message):
    with pytest.raises(EvaluationInputError) as raised:
        evaluation_input_clean({"synopsis": SYNOPSIS, "sequel_of_title": title}, titles=True)
    assert list(raised.value.errors) == ["sequel_of"] and raised.value.errors["sequel_of"][0].startswith(message)


def test_the_api_takes_a_mal_id_and_answers_with_the_anime(client, active_run):
    response = client.post(
        "/api/evaluate/", {"synopsis": SYNOPSIS, "sequel_of": FRIEREN}, content_type="application/json"
    )
    assert response.status_code == 201
    body = response.json()
    frieren = Anime.objects.get(mal_id=FRIEREN)
    assert body["sequel_of"] == {
        "mal_id": FRIEREN,
        "title": frieren.display_title,
        "url": f"http://testserver/anime/{FRIEREN}/",
    }
    assert body["input"]["sequel_of"] == FRIEREN
    evaluation = Evaluation.objects.get()
    assert evaluation.sequel_of_id == FRIEREN
    # The same synopsis without "sequel of" is another input.
    again = client.post("/api/evaluate/", {"synopsis": SYNOPSIS}, content_type="application/json")
    assert again.status_code == 201 and again.json()["sequel_of"] is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (999_999_999, "No anime with MyAnimeList id 999999999 in the catalogue."),
        ("abc", "Must be the MyAnimeList id (a whole number) of a catalogue anime."),
        (True, "Must be the MyAnimeList id (a whole number) of a catalogue anime."),
        (-4, "No anime with MyAnimeList id -4 in the catalogue."),
        (2**70, f"No anime with MyAnimeList id {str(2**70)[:20]} in the catalogue."),
    ],
)
def test_the_api_refuses_a_bad_id_naming_the_field(client, active_run, value, message):
    response = client.post(
        "/api/evaluate/", {"synopsis": SYNOPSIS, "sequel_of": value}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json() == {"sequel_of": [message]}
    assert not Evaluation.objects.exists()


def test_the_page_resolves_a_typed_title_and_the_result_says_sequel_of(client, active_run):
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS, "sequel_of_title": "Sousou no Frieren"})
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and evaluation.sequel_of_id == FRIEREN
    html = client.get(response["Location"]).content.decode()
    assert re.search(rf'id="sequel-of"><span class="muted">Sequel of</span> <a href="/anime/{FRIEREN}/">', html)
    assert 'value="Sousou no Frieren"' in html  # the form shows it again


def test_a_picked_suggestion_wins_over_the_typed_title(client, active_run):
    client.post("/evaluate/", {"synopsis": SYNOPSIS, "sequel_of_title": "Hunter x Hunter", "sequel_of": "11061"})
    assert Evaluation.objects.get().sequel_of_id == 11061


def test_the_page_shows_an_ambiguous_title_as_a_form_error(client, active_run):
    response = client.post("/evaluate/", {"synopsis": SYNOPSIS, "sequel_of_title": "fullmetal"})
    assert response.status_code == 200 and not Evaluation.objects.exists()
    html = response.content.decode()
    assert "<li>Sequel of: &#x27;fullmetal&#x27; fits several anime: Fullmetal Alchemist: Brotherhood" in html
    assert 'id="id_sequel_of_title"' in html and 'aria-invalid="true"' in html


def test_the_suggestions_are_a_few_radio_buttons(client, catalog):
    response = client.get("/evaluate/sequel-of/", {"sequel_of_title": "Sosou no Frieren"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    ids = [int(i) for i in re.findall(r'type="radio" name="sequel_of" value="(\d+)"', html)]
    assert ids[0] == FRIEREN and 1 < len(ids) <= 8
    assert "Sousou no Frieren (2023, TV)" in html
    assert "sequel_of" not in client.get("/evaluate/sequel-of/", {"sequel_of_title": " "}).content.decode()
    none = client.get("/evaluate/sequel-of/", {"sequel_of_title": "zzzqqq"}).content.decode()
    assert "No anime in the catalogue has a title like that." in none


def test_the_form_offers_sequel_of_and_the_source(client, active_run):
    html = client.get("/evaluate/").content.decode()
    assert 'name="sequel_of_title"' in html and 'hx-get="/evaluate/sequel-of/"' in html
    assert '<select id="id_source" name="source">' in html and '<option value="Manga">Manga</option>' in html
