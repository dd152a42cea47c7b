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


def test_it_reads_soft_era_cues(titles) -> None:
    plan = understand("a black and white anime about a robot boy", titles=titles)
    assert plan.text == "a robot boy"
    assert next(c for c in plan.preferences if c.kind == "years").years == (1950, 1969)
    plan = understand("a show i watched as a kid about a talking dog", titles=titles)
    low, high = next(c for c in plan.preferences if c.kind == "years").years
    assert high - low == 17 and high < plan_year()  # some 8 to 25 years ago, a soft cue
    plan = understand("ninjas fighting demons, it was on TV in the 90s", titles=titles)
    assert ("type", "TV series") in cues(plan) and ("years", "1990s") in cues(plan)
    assert "TV" not in plan.text


def test_it_excludes_the_year_of_an_entry_not_its_franchise(titles) -> None:
    plan = understand("a boy looking for his father who is a hunter, not the 2011 one", titles=titles)
    assert plan.excluded_years == {2011}
    assert plan.excluded_ids == set()  # the rest of the franchise stays
    assert plan.text.endswith("his father who is a hunter")  # "not the 2011 one" is out of the text


@pytest.mark.parametrize("query", ["the original, about a vampire hunter", "a vampire hunter, not the 2018 remake"])
def test_it_reads_the_original_as_the_first_entry(titles, query: str) -> None:
    plan = understand(query, titles=titles)
    assert plan.original
    assert plan.excluded_ids == set()
    assert "vampire hunter" in plan.text and "original" not in plan.text


def plan_year() -> int:
    from datetime import date

    return date.today().year


def test_the_fold_shows_the_entry_matching_the_cues() -> None:
    from catalog.search.results import fold_franchise_hits

    order = [2, 1, 3]
    franchise = {1: "f", 2: "f", 3: "g"}
    members = {1: 10, 2: 1_000, 3: 5}
    plain = fold_franchise_hits(order, franchise=franchise, members=members, preferred=set(), limit=5)
    assert plain[0] == (2, [1])  # most members
    cued = fold_franchise_hits(order, franchise=franchise, members=members, preferred=set(), limit=5, cued={1: 1.0})
    assert cued[0] == (1, [2])  # the entry of the remembered era


def test_it_reads_where_an_anime_was_made_next_to_a_medium_word(titles) -> None:
    plan = understand("chinese movie about a snake spirit who loses her memory", titles=titles)
    assert cues(plan) == [("type", "movie"), ("country", "Chinese")]
    assert plan.preferences[1].countries == {"CN"}
    assert "chinese" not in plan.text.lower()
    assert ("country", "Korean") in cues(understand("korean animated zombie outbreak", titles=titles))
    assert ("country", "Chinese") in cues(understand("a donghua about cultivators", titles=titles))
    # A nationality in the plot is plot.
    assert cues(understand("two friends get sucked into an old chinese book", titles=titles)) == []
