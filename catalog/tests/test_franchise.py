from __future__ import annotations

import pytest

from catalog.franchise import franchise_key_for
from catalog.models import Anime


@pytest.mark.parametrize(
    ("titles", "key"),
    [
        (
            ["Shingeki no Kyojin", "Shingeki no Kyojin Season 2", "Shingeki no Kyojin Season 3 Part 2",
             "Shingeki no Kyojin: The Final Season", "Shingeki no Kyojin: The Final Season Part 2"],
            "shingeki-no-kyojin",
        ),
        (["Gintama", "Gintama'", "Gintama°", "Gintama.", "Gintama: The Final"], "gintama"),
        (["Steins;Gate", "Steins;Gate 0"], "steins-gate"),
        (["Kaguya-sama wa Kokurasetai: Tensai-tachi no Renai Zunousen",
          "Kaguya-sama wa Kokurasetai? Tensai-tachi no Renai Zunousen"], "kaguya-sama-wa-kokurasetai"),
        (["Boku no Hero Academia", "Boku no Hero Academia 2nd Season", "Boku no Hero Academia the Movie 1: Futari no Hero"],
         "boku-no-hero-academia"),
        (["Mob Psycho 100", "Mob Psycho 100 II", "Mob Psycho 100 III"], "mob-psycho"),
        (["Re:Zero kara Hajimeru Isekai Seikatsu", "Re:Zero kara Hajimeru Isekai Seikatsu 2nd Season"],
         "re-zero-kara-hajimeru-isekai-seikatsu"),
        (["Naruto", "Naruto: Shippuuden"], "naruto"),
    ],
)  # fmt: skip
def test_it_gives_one_key_to_a_series_entries(titles, key):
    assert {franchise_key_for(t) for t in titles} == {key}


def test_it_keeps_different_series_apart():
    keys = {
        franchise_key_for(t)
        for t in ["Death Note", "Code Geass: Hangyaku no Lelouch", "Sousou no Frieren", "One Piece"]
    }

    assert len(keys) == 4


def test_it_groups_the_real_catalogue(catalog):
    # Keys come from the related-anime graph, named after the franchise's first entry and its id.
    aot = set(Anime.objects.in_franchise("shingeki-no-kyojin-16498").values_list("mal_id", flat=True))
    # Season 1, Season 3 Part 2 and The Final Season, and every other "Shingeki no Kyojin…"
    # (seasons, movies, OVAs, specials: 20 of them), under one key with the spin-offs.
    assert {16498, 38524, 40028} <= aot
    assert set(Anime.objects.filter(title__startswith="Shingeki no Kyojin").values_list("mal_id", flat=True)) <= aot
    assert {31374, 35122} <= aot  # the spin-offs Shingeki! Kyojin Chuugakkou and Shingeki no Kyotou
    assert len(aot) == 22
    fma = set(Anime.objects.in_franchise("fullmetal-alchemist-121").values_list("mal_id", flat=True))
    # Both series and their films, and the entries under the Japanese title (Hagane no
    # Renkinjutsushi: …) that no title rule could join.
    assert {121, 5114, 430, 9135, 664, 908} <= fma
    assert len(fma) == 9
    assert dict(Anime.objects.filter(title__startswith="Death Note").values_list("mal_id", "franchise_key")) == {
        1535: "death-note-1535",
        2994: "death-note-1535",  # Death Note: Rewrite
    }
