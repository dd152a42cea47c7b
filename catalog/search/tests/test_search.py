"""Search on the real catalogue, indexed once per session (``search_index`` in conftest.py); a
test that changes the index works on a copy of its own (``own_search_index``)."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.filters import AnimeCriteria
from catalog.models import Anime, EmbeddingCache
from catalog.search import embeddings
from catalog.search.documents import anime_document_text
from catalog.search.index import anime_index, index_count
from catalog.search.service import search_anime, similar_anime

pytestmark = pytest.mark.slow


DEATH_NOTE_PLOT = (
    "a high school student finds a notebook dropped by a god of death that kills anyone whose name is written in it"
)


@pytest.mark.parametrize("query", ["Sousou no Frieren", "frieren", "Frieren: Beyond Journey's End", "sosou no frieren"])
def test_it_puts_frieren_first_for_its_titles(search_index: str, query: str) -> None:
    results = search_anime(query, limit=5)
    first = results.hits[0]
    assert first.anime.mal_id == 52991
    assert first.title_match is True
    # Its sequel is folded into the same card.
    assert 59978 in [a.mal_id for a in first.related]
    assert 59978 not in [h.anime.mal_id for h in results.hits]


@pytest.mark.parametrize(
    ("query", "mal_id"),
    [("le voyage de chihiro", 199), ("el viaje de chihiro", 199), ("prinzessin mononoke", 164)],
)
def test_it_finds_an_anime_by_its_title_in_another_language(search_index: str, query: str, mal_id: int) -> None:
    first = search_anime(query, limit=5).hits[0]
    assert first.anime.mal_id == mal_id
    assert first.title_match is True


@pytest.mark.parametrize(
    ("query", "mal_id"),
    [
        ("kimetsu no yaba", 38000),  # "yaba" is a word of other titles too: its close "yaiba" still counts
        ("sakamichi no apolon", 12531),  # "apolon" too (Sakamichi no Apollon)
        ("ginga eiyu densetsu", 820),  # "eiyu" too (Ginga Eiyuu Densetsu)
    ],
)
def test_it_finds_a_title_misspelt_into_another_title_s_word(search_index: str, query: str, mal_id: int) -> None:
    first = search_anime(query, limit=5).hits[0]
    assert (first.anime.mal_id, first.title_match) == (mal_id, True)


def test_it_matches_a_title_as_typed_even_when_it_holds_a_cue_word(search_index: str) -> None:
    # "OVA" reads as a medium cue, and the words left name the TV series (14073): the title as
    # typed names the OVA itself.
    results = search_anime("Ebiten: Kouritsu Ebisugawa Koukou Tenmonbu OVA", limit=5)
    assert [c.kind for c in results.plan.preferences] == ["type"]
    assert (results.hits[0].anime.mal_id, results.hits[0].title_match) == (14889, True)


def test_it_unfolds_franchises_on_request(search_index: str) -> None:
    ids = [h.anime.mal_id for h in search_anime("frieren", limit=5, fold_franchises=False).hits]
    assert ids[:2] == [52991, 59978]


def test_it_finds_an_anime_from_its_plot(search_index: str) -> None:
    # With the whole catalogue, "a high school student finds a notebook that kills anyone whose
    # name is written in it" ranks Death Note second, behind Musunde Hiraite (a notebook, a high
    # school): one more detail of the plot (the god of death) tells them apart.
    results = search_anime(DEATH_NOTE_PLOT)
    assert results.hits[0].anime.mal_id == 1535
    # The synopsis sentence sharing the most (IDF-weighted) words with the query.
    assert results.hits[0].snippet == (
        "Light stumbles upon it, deeming the first of its rules ridiculous: "
        "the human whose name is written in this note shall die."
    )
    assert "<mark>name</mark> is <mark>written</mark>" in results.hits[0].snippet_html


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_it_answers_in_every_mode(search_index: str, mode: str) -> None:
    results = search_anime(
        "two brothers who lost their bodies trying to bring their dead mother back with alchemy", mode=mode
    )
    assert {h.anime.mal_id for h in results.hits[:3]} & {5114, 121}


def test_it_keeps_the_top_k_full_under_filters(search_index: str) -> None:
    criteria = AnimeCriteria(genres=["Romance"], type="TV", year_min=2010)
    results = search_anime("a boy who can go back in time to stop a kidnapping", criteria=criteria, limit=10)
    assert len(results.hits) == 10
    for hit in results.hits:
        names = {g.name for g in hit.anime.genres.all()}
        assert "Romance" in names
        assert hit.anime.type == "TV"
        assert hit.anime.year >= 2010


def test_it_applies_filters_to_title_matches_too(search_index: str) -> None:
    results = search_anime("frieren", criteria=AnimeCriteria(exclude_genres=["Fantasy"]), limit=5)
    assert 52991 not in [h.anime.mal_id for h in results.hits]
    assert all("Fantasy" not in {g.name for g in h.anime.genres.all()} for h in results.hits)


def test_it_escapes_the_snippet_before_marking_words(search_index: str) -> None:
    from catalog.search.results import highlight

    html = highlight("Tom & <b>Jerry</b> kill a cat", {"kill", "jerry"})
    assert html == "Tom &amp; &lt;b&gt;<mark>Jerry</mark>&lt;/b&gt; <mark>kill</mark> a cat"


def test_it_does_no_model_work_after_the_query_embedding(search_index: str, monkeypatch) -> None:
    embedder = embeddings.get_embedder()
    calls: list[str] = []
    original = embedder.embed_queries
    monkeypatch.setattr(embedder, "embed_queries", lambda texts: calls.extend(texts) or original(texts))
    monkeypatch.setattr(embedder, "embed_documents", lambda texts: pytest.fail("documents embedded at query time"))
    search_anime("giant robots fight aliens", limit=10)
    assert calls == ["giant robots fight aliens"]


def test_it_suggests_similar_anime_outside_the_franchise(search_index: str) -> None:
    anime = Anime.objects.get(mal_id=16498)
    hits = similar_anime(anime, limit=6).hits
    assert len(hits) == 6
    keys = [h.anime.franchise_key for h in hits]
    assert "shingeki-no-kyojin" not in keys
    assert len(set(keys)) == 6


def test_it_reindexes_an_unchanged_catalogue_without_embedding(search_index: str, monkeypatch) -> None:
    embedder = embeddings.get_embedder()
    monkeypatch.setattr(embedder, "embed_documents", lambda texts: pytest.fail(f"embedded {len(texts)} texts"))
    stats = anime_index()
    assert (stats.indexed, stats.unchanged, stats.deleted) == (0, Anime.objects.count(), 0)
    assert index_count() == Anime.objects.count()


def test_it_reindexes_a_changed_anime(own_search_index: str) -> None:
    Anime.objects.filter(mal_id=1535).update(
        synopsis="A lighthouse keeper teaches octopuses to play chess on a stormy island."
    )
    before = EmbeddingCache.objects.count()
    stats = anime_index([1535])
    assert (stats.indexed, stats.unchanged) == (1, 0)
    assert EmbeddingCache.objects.count() == before + 1
    assert search_anime("octopus chess lighthouse", limit=3).hits[0].anime.mal_id == 1535


def test_it_caches_one_vector_per_document(search_index: str) -> None:
    anime = Anime.objects.prefetch_related("genres").get(mal_id=52991)
    text = anime_document_text(anime)
    row = EmbeddingCache.objects.get(text_sha256=embeddings.text_sha256(text), backend="minilm")
    vector = np.frombuffer(row.vector, dtype=np.float32)
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    again = embeddings.embed_documents_cached([text])
    np.testing.assert_array_equal(again[0], vector)


@pytest.mark.parametrize(
    "tail", ["the 90s one", "not the 2011 one", "the original", "not the remake"]
)  # fmt: skip
def test_the_franchise_card_shows_the_entry_the_query_dates(search_index: str, tail: str) -> None:
    query = "a boy leaves home to find his father who is a famous hunter"
    assert search_anime(query, limit=3).hits[0].anime.mal_id == 11061  # the 2011 remake, best known
    assert search_anime(f"{query}, {tail}", limit=3).hits[0].anime.mal_id == 136  # the 1999 series
