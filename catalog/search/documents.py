"""The one place that decides what text of an anime gets embedded and keyword-indexed.

Measured on the imported catalogue with minilm (dense only, the 40 dev queries, see the README):
the synopsis alone versus "titles. genres. synopsis". Plot-description queries are answered by
the synopsis; titles in front help title and franchise queries but, in a 256-token window, push
the end of long synopses out. The chosen form is ``DOCUMENT_FORM``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catalog.models import Anime

# MyAnimeList synopses end with a source credit such as "[Written by MAL Rewrite]" or
# "(Source: Crunchyroll)": noise for both the model and the keyword index.
_CREDIT = re.compile(r"\s*[\[(](?:written by|source)[^\])]*[\])]\s*$", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z0-9])")

DOCUMENT_FORM = "synopsis"


def clean_synopsis(text: str) -> str:
    text = (text or "").strip()
    previous = None
    while previous != text:
        previous = text
        text = _CREDIT.sub("", text).strip()
    return text


def synopsis_sentences(text: str) -> list[str]:
    """The synopsis split into sentences (for snippets)."""
    text = clean_synopsis(text)
    if not text:
        return []
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n", text):
        paragraph = paragraph.strip()
        if paragraph:
            sentences.extend(s.strip() for s in _SENTENCE.split(paragraph) if s.strip())
    return sentences


def anime_titles(anime: Anime, *, other_languages: bool = False) -> list[str]:
    """Main, English and Japanese titles and synonyms (and with ``other_languages`` the French,
    German, Spanish... titles), without repeats. The embedded text leaves the other languages out
    (an English model reads them as noise); title matching and the keyword vector use them."""
    titles = [anime.title, anime.title_english, anime.title_japanese, *(anime.title_synonyms or [])]
    if other_languages:
        titles.extend(anime.title_other or [])
    seen: dict[str, str] = {}
    for title in titles:
        title = (title or "").strip()
        if title and title.lower() not in seen:
            seen[title.lower()] = title
    return list(seen.values())


def anime_genre_names(anime: Anime) -> list[str]:
    return sorted(g.name for g in anime.genres.all())


def anime_document_text(anime: Anime, *, form: str = DOCUMENT_FORM) -> str:
    """The text embedded for ``anime`` (dense vector). With the "synopsis" form, an anime with a
    synopsis embeds exactly the text the evaluator embeds for it (evaluator.features.input_text),
    so the two share one embedding; one without a synopsis embeds its titles and tags."""
    synopsis = clean_synopsis(anime.synopsis)
    latin_titles = [t for t in anime_titles(anime) if t != anime.title_japanese]
    head = " / ".join(latin_titles)
    if form == "synopsis":
        if synopsis:
            return synopsis
        tags = ", ".join(sorted({*anime_genre_names(anime), *(t.name for t in anime.tags.all())}))
        return f"{head}. {tags}".strip(" .") if tags else head
    if form == "titles+genres+synopsis":
        genres = ", ".join(anime_genre_names(anime))
        return f"{head}. {genres}. {synopsis}".strip()
    return f"{head}. {synopsis}".strip()


# Episode titles that name no content ("Episode 3", "Part 1 of 2", "Complete Movie", "OVA").
_GENERIC_EPISODE = re.compile(
    r"^\s*(?:(?:episode|ep\.?|part|chapter|vol\.?|volume|special|ova|recap|movie)\s*#?\d+(?:\s*of\s*\d+)?|"
    r"complete movie|short movie|movie|tv special|special|ova|oad|ona|web|music video|\d+)\s*$",
    re.IGNORECASE,
)


def anime_episode_text(anime: Anime) -> str:
    """The episode titles for the keyword vector's episode field (``keywords.document_sparse``):
    they often name the events and characters of single episodes, where the synopsis tells the
    premise only, and a remembered scene is one such event."""
    return " ".join(t for t in anime.episode_titles or [] if t and not _GENERIC_EPISODE.match(t))


def anime_keyword_text(anime: Anime) -> str:
    """The text of the sparse keyword vector: every title (other languages too), the genres, the
    AniList tags, the studios and the synopsis. Measured with ``search_eval --mode hybrid`` (README
    "Search quality"): the tags help both halves' hit@10; the episode titles, concatenated here,
    hurt the less-popular half (their words outweigh the synopsis in BM25), so they are a field of
    their own (``anime_episode_text``)."""
    return " ".join(
        [
            *anime_titles(anime, other_languages=True),
            *anime_genre_names(anime),
            *sorted(t.name for t in anime.tags.all()),
            *(anime.studios or []),
            clean_synopsis(anime.synopsis),
        ]
    )
