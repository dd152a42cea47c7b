"""Gemini's optional help for long descriptions (catalog/search/assist.py), against the fake
Gemini server: clues and a rerank when it answers, the offline results when it is slow, failing
or talking nonsense, and no call at all for short queries or without a key."""

from __future__ import annotations

import pytest

from catalog.search.service import search_anime
from testsupport.fake_gemini import Reply

# A long, hedged description (Made in Abyss), the way people write one.
DESCRIPTION = (
    "I think it was about a girl and a robot boy who climb down into a huge pit, there were "
    "strange creatures down there and a curse that makes you sick when you go back up, the art "
    "looked cute but it was really dark"
)


@pytest.fixture
def assisted(fake_gemini, settings):
    settings.SEARCH_GEMINI = True
    settings.SEARCH_GEMINI_TIMEOUT = 1.0
    return fake_gemini


def _ids(results) -> list[int]:
    return [hit.anime.mal_id for hit in results.hits]


def _offline(settings) -> list[int]:
    settings.SEARCH_GEMINI = False
    ids = _ids(search_anime(DESCRIPTION))
    settings.SEARCH_GEMINI = True
    return ids


def test_it_searches_gemini_s_clues_and_takes_its_order(search_index, assisted, settings) -> None:
    offline = _offline(settings)
    chosen = offline[4]
    assisted.script = [
        Reply(output={"clues": ["children descend into a giant abyss", "a curse strikes those who ascend"]}),
        Reply(output={"ranking": [chosen, 999_999_999]}),  # an id not offered is ignored
    ]
    results = search_anime(DESCRIPTION)
    assert results.plan.clues == ["children descend into a giant abyss", "a curse strikes those who ascend"]
    assert results.plan.assisted == ["clues", "rerank"]
    assert _ids(results)[0] == chosen
    assert [p.split("/")[-1] for p in assisted.paths] == ["gemini-2.5-flash:generateContent"] * 2
    rerank_prompt = assisted.requests[1]["contents"][0]["parts"][0]["text"]
    assert f"[{chosen}]" in rerank_prompt and "climb down into a huge pit" in rerank_prompt
    assert "I think" not in rerank_prompt  # the hedges are out before anything is sent
    assert assisted.requests[1]["generationConfig"]["responseMimeType"] == "application/json"


def test_it_asks_once_per_query(search_index, assisted) -> None:
    assisted.default = Reply(output={"clues": ["a pit", "a curse"], "ranking": []})
    search_anime(DESCRIPTION)
    search_anime(DESCRIPTION)
    assert len(assisted.requests) == 2  # clues and rerank once; the second search reads the cache


@pytest.mark.parametrize(
    "reply",
    [
        Reply(delay=2.5, output={"clues": ["slow"]}),
        Reply(status=500),
        Reply(status=429),
        Reply(body="not json"),
        Reply(output={"ranking": "nonsense", "clues": "nonsense"}),
    ],
    ids=["timeout", "500", "429", "malformed", "wrong-shape"],
)
def test_it_answers_without_gemini_when_gemini_fails(search_index, assisted, settings, reply) -> None:
    offline = _offline(settings)
    assisted.default = reply
    results = search_anime(DESCRIPTION)
    assert results.plan.assisted == []
    assert _ids(results) == offline


def test_it_leaves_short_queries_and_titles_alone(search_index, assisted) -> None:
    search_anime("made in abyss")
    search_anime("girl and robot climb into a pit")
    assert assisted.requests == []


def test_it_never_calls_gemini_without_a_key(search_index, assisted, settings) -> None:
    offline = _offline(settings)
    settings.GEMINI_API_KEY = ""
    results = search_anime(DESCRIPTION)
    assert results.plan.assisted == [] and assisted.requests == []
    assert _ids(results) == offline and len(offline) == 10


def test_the_api_says_what_gemini_did(search_index, assisted, client) -> None:
    assisted.default = Reply(output={"clues": ["children descend into a giant abyss"], "ranking": []})
    body = client.get("/api/search/", {"q": DESCRIPTION}).json()
    assert body["understood"]["assisted"] == ["clues"]
    assert body["understood"]["clues"] == ["children descend into a giant abyss"]


def test_a_title_gemini_names_joins_the_candidates_through_the_title_index(search_index, assisted) -> None:
    totoro = 523  # nothing about a pit: the rankings alone never bring it
    assisted.script = [
        Reply(
            output={"clues": ["children descend into a giant abyss"], "titles": ["Tonari no Totoro", "Pit Girl 3000"]}
        ),
        Reply(output={"ranking": [totoro]}),
    ]
    results = search_anime(DESCRIPTION)
    first = results.hits[0]
    assert first.anime.mal_id == totoro
    assert ("assist", "named by Gemini") in [(r.kind, r.label) for r in first.reasons]
    assert f"[{totoro}]" in assisted.requests[1]["contents"][0]["parts"][0]["text"]


def test_a_named_title_outside_the_filters_stays_out(search_index, assisted) -> None:
    from catalog.filters import AnimeCriteria

    assisted.default = Reply(output={"clues": [], "titles": ["Tonari no Totoro"], "ranking": [523]})
    results = search_anime(DESCRIPTION, criteria=AnimeCriteria(type="TV"))
    assert 523 not in _ids(results)
    assert all(hit.anime.type == "TV" for hit in results.hits)
