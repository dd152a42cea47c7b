from __future__ import annotations

import json
import subprocess
import sys

from catalog.search.keywords import document_sparse, keyword_tokens, query_sparse, stem, token_id


def test_it_tokenizes_folding_accents_stop_words_and_plurals() -> None:
    assert keyword_tokens("The Giants eat PEOPLE behind the walls of Shiganshina, Ōtsuki") == [
        "giant",
        "eat",
        "people",
        "behind",
        "wall",
        "shiganshina",
        "otsuki",
    ]
    assert [stem(w) for w in ("kills", "killing", "killed", "stories", "running", "bus", "is")] == [
        "kill",
        "kill",
        "kill",
        "story",
        "run",
        "bus",
        "is",
    ]


def test_it_hashes_tokens_with_a_stable_crc32() -> None:
    # Fixed values: a salted hash() would differ between processes.
    assert token_id("frieren") == 1322219493
    assert token_id("titan") == 155901870


def test_it_gives_the_same_sparse_vectors_in_another_process() -> None:
    text = "Humanity hides behind enormous walls from giants that eat people."
    code = (
        "import json, sys; from catalog.search.keywords import document_sparse, query_sparse; "
        f"print(json.dumps([document_sparse({text!r}), query_sparse({text!r})]))"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=".")
    other_document, other_query = json.loads(out.stdout)
    document = document_sparse(text)
    assert [list(document[0]), [round(v, 9) for v in document[1]]] == [
        other_document[0],
        [round(v, 9) for v in other_document[1]],
    ]
    assert [list(x) for x in query_sparse(text)] == other_query


def test_it_weighs_repeated_terms_with_bm25_saturation() -> None:
    indices, values = document_sparse("titan titan titan wall")
    weights = dict(zip(indices, values, strict=True))
    assert weights[token_id("titan")] > weights[token_id("wall")]
    assert weights[token_id("titan")] < 3 * weights[token_id("wall")]


def test_the_keyword_text_holds_every_title_the_genres_tags_studios_and_synopsis(catalog) -> None:
    from catalog.models import Anime
    from catalog.search.documents import anime_keyword_text, clean_synopsis

    anime = Anime.objects.prefetch_related("genres", "tags").get(mal_id=1535)
    text = anime_keyword_text(anime)
    tags = [t.name for t in anime.tags.all()]
    assert tags and all(tag in text for tag in tags)
    assert anime.studios == ["Madhouse"] and "Madhouse" in text
    assert all(title in text for title in [anime.title, *anime.title_synonyms, *anime.title_other])
    assert text.endswith(clean_synopsis(anime.synopsis))


def test_it_weighs_episode_titles_as_a_field_of_their_own() -> None:
    assert document_sparse("titan wall", episodes="") == document_sparse("titan wall")
    indices, values = document_sparse("titan wall", episodes="the fall of shiganshina")
    weights = dict(zip(indices, values, strict=True))
    # A term of the episode field counts less than one of the main text...
    assert 0 < weights[token_id("shiganshina")] < weights[token_id("wall")]
    # ...and hundreds of episode titles leave the main text's weights as they are, while one of
    # them counts less than the same title among a few (each field normalised by its own length).
    many = "the fall of shiganshina " + " ".join(f"battle number {n}" for n in range(300))
    crowded = dict(zip(*document_sparse("titan wall", episodes=many), strict=True))
    assert crowded[token_id("wall")] == weights[token_id("wall")]
    assert crowded[token_id("shiganshina")] < weights[token_id("shiganshina")]


def test_the_episode_text_leaves_out_titles_that_name_no_content() -> None:
    from catalog.models import Anime
    from catalog.search.documents import anime_episode_text

    anime = Anime(episode_titles=["Episode 1", "Part 1 of 2", "Complete Movie", "OVA", "The Wall Falls", ""])
    assert anime_episode_text(anime) == "The Wall Falls"
