"""The title index on the real catalogue (``catalog`` fixture): exact titles, typos, synonyms and
titles in other languages, and the similarity the typo tolerance rests on."""

from __future__ import annotations

import pytest

from catalog.search.titles import FUZZY_RATIO, similarity, title_index


@pytest.fixture
def titles(catalog):
    return title_index()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("frieren", "frieren", 1.0),
        ("sosou", "sousou", 1 - 1 / 6),
        ("frieran", "frieren", 1 - 1 / 7),
        ("kyojin", "kaijin", 1 - 2 / 6),
        ("", "", 1.0),
        ("abc", "", 0.0),
    ],
)
def test_similarity_is_one_minus_edit_distance_over_the_longer_length(a: str, b: str, expected: float) -> None:
    assert similarity(a, b) == pytest.approx(expected)
    assert similarity(b, a) == pytest.approx(expected)


def test_a_ratio_of_exactly_the_threshold_counts_as_close() -> None:
    # One edit in five letters is 0.8 exactly: kept (the library's own cutoff would drop it).
    assert similarity("yaba", "yaiba") >= FUZZY_RATIO


def test_it_matches_a_whole_title_exactly(titles) -> None:
    first = titles.match("Sousou no Frieren")[0]
    assert (first.mal_id, first.exact, first.quality) == (52991, True, 1.0)


@pytest.mark.parametrize(
    ("query", "mal_id"),
    [("sosou no frieren", 52991), ("kimetsu no yaba", 38000), ("ginga eiyu densetsu", 820)],
)
def test_it_tolerates_typos(titles, query: str, mal_id: int) -> None:
    first = titles.match(query)[0]
    assert first.mal_id == mal_id
    assert FUZZY_RATIO <= first.quality < 1.0
    assert not first.exact


def test_a_misspelt_word_names_a_longer_title_as_the_right_spelling_does(titles) -> None:
    # "kiseijuu" covers a quarter of "Kiseijuu: Sei no Kakuritsu", the least a partial title
    # needs; the typo lowers how well it matches, not whether it does.
    right, misspelt = titles.match("kiseijuu")[0], titles.match("kiseiju")[0]
    assert right.mal_id == misspelt.mal_id == 22535
    assert misspelt.quality == pytest.approx(right.quality * similarity("kiseiju", "kiseijuu"))


@pytest.mark.parametrize(
    ("query", "mal_id"),
    [("le voyage de chihiro", 199), ("el viaje de chihiro", 199), ("prinzessin mononoke", 164)],
)
def test_it_matches_titles_in_other_languages(titles, query: str, mal_id: int) -> None:
    assert titles.match(query)[0].mal_id == mal_id


def test_a_description_is_not_read_as_a_partial_title(titles) -> None:
    assert titles.match("a boy who finds a notebook that kills anyone whose name is written in it") == []


def test_the_close_words_of_a_query_word_are_cached_per_index(titles) -> None:
    titles.match("frieran")
    hits = titles._close_tokens.cache_info().hits
    titles.match("frieran")
    assert titles._close_tokens.cache_info().hits > hits
