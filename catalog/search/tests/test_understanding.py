"""Query understanding: plot words, cues, explicit filters, exclusions and clues read from how
people describe an anime they half remember (the catalogue supplies studio names and titles)."""

from __future__ import annotations

import pytest

from catalog.search.titles import title_index
from catalog.search.understanding import understand


@pytest.fixture
def titles(catalog):
    return title_index()


def cues(plan) -> list[tuple[str, str]]:
    return [(cue.kind, cue.label) for cue in plan.preferences]


def test_it_reads_medium_studio_and_decade_as_soft_cues(titles) -> None:
    plan = understand("90s ghibli movie about raccoons that can shapeshift fighting the builders", titles=titles)
    assert plan.text == "about raccoons that can shapeshift fighting the builders"
    assert cues(plan) == [("type", "movie"), ("studio", "Studio Ghibli"), ("years", "1990s")]
    assert plan.filters == {}  # cues boost, they do not filter
    studio = next(c for c in plan.preferences if c.kind == "studio")
    assert studio.studios == {"Studio Ghibli"}
    assert next(c for c in plan.preferences if c.kind == "years").years == (1990, 1999)


def test_it_strips_hedges_and_filler(titles) -> None:
    plan = understand(
        "I think it was an anime where a girl finds a talking cat, probably from the early 2000s or something",
        titles=titles,
    )
    assert plan.text == "a girl finds a talking cat"
    assert cues(plan) == [("years", "2000–2004")]


def test_it_reads_a_director_as_the_studios_of_their_films(titles) -> None:
    plan = understand("mamoru hosoda movie where a runaway boy ends up in a city of beasts", titles=titles)
    assert cues(plan) == [("type", "movie"), ("studio", "Mamoru Hosoda")]
    assert {"Studio Chizu", "Madhouse"} <= set(plan.preferences[1].studios)
    assert "hosoda" not in plan.text.lower()


def test_it_needs_context_for_a_studio_named_like_a_word(titles) -> None:
    assert cues(understand("a boy with bones sticking out of his back fights monsters", titles=titles)) == []
    plan = understand("a bones show about an alchemist who lost his arm", titles=titles)
    assert ("studio", "Bones") in cues(plan)


def test_it_reads_episode_counts(titles) -> None:
    assert cues(understand("short show, like 12 episodes, about a ping pong club", titles=titles)) == [
        ("episodes", "about 9–15 episodes")
    ]
    assert cues(understand("a long running pirate show with hundreds of episodes", titles=titles)) == [
        ("episodes", "long-running")
    ]


def test_it_keeps_the_setting_of_the_story_out_of_the_release_years(titles) -> None:
    plan = understand("a story set in the 1950s on a transcontinental train full of immortals", titles=titles)
    assert cues(plan) == []


def test_it_reads_explicit_constraints_as_filters_that_can_be_dropped(titles) -> None:
    plan = understand("only movies about time travel after 2010", titles=titles)
    assert plan.filters == {"type": "Movie", "year_min": 2011}
    assert plan.text == "about time travel"
    dropped = understand("only movies about time travel after 2010", titles=titles, ignore=frozenset({"type"}))
    assert dropped.filters == {"year_min": 2011}
    assert understand("time travel since 2010", titles=titles).filters == {"year_min": 2010}
    assert understand("time travel from 2010 onwards", titles=titles).filters == {"year_min": 2010}
    assert understand("time travel before 2000", titles=titles).filters == {"year_max": 1999}


def test_it_leaves_no_article_stranded_where_a_cue_was(titles) -> None:
    plan = understand("a ghibli movie about a girl who moves to the countryside", titles=titles)
    assert plan.text == "about a girl who moves to the countryside"
    assert cues(plan) == [("type", "movie"), ("studio", "Studio Ghibli")]


def test_it_excludes_the_franchise_named_after_not(titles) -> None:
    plan = understand("teenagers pilot giant robots against angels, not evangelion", titles=titles)
    assert plan.text == "teenagers pilot giant robots against angels"
    assert plan.excluded == ["evangelion"]
    assert 30 in plan.excluded_ids  # Shinseiki Evangelion, with the rest of its franchise
    assert all(titles.franchise_of[i] == titles.franchise_of[30] for i in plan.excluded_ids)


def test_it_does_not_read_uncertainty_as_a_negation(titles) -> None:
    plan = understand("not sure if it was a movie, a girl turns into a wolf", titles=titles)
    assert plan.excluded == []
    assert "girl turns into a wolf" in plan.text


def test_it_splits_a_long_description_into_clues(titles) -> None:
    plan = understand(
        "a boy and his little sister hide in an abandoned shelter during the war. "
        "she keeps fruit candies in a small tin can. they catch fireflies at night to light the cave",
        titles=titles,
    )
    assert plan.clues == [
        "a boy and his little sister hide in an abandoned shelter during the war",
        "she keeps fruit candies in a small tin can",
        "they catch fireflies at night to light the cave",
    ]


def test_it_leaves_a_plain_title_alone(titles) -> None:
    plan = understand("frieren", titles=titles)
    assert (plan.text, plan.preferences, plan.filters, plan.excluded, plan.clues) == ("frieren", [], {}, [], [])
    assert not plan.understood
