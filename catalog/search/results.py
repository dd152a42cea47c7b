"""Search results, the same for the engine's answer and the database fallback's: cards (hits)
one per franchise, title matches first, each with the synopsis sentence closest to the query.

``results_assemble`` takes a ranking (``Candidate`` rows, best first) from either source and
does the rest: title matching under the same filters, franchise folding, hydration from the
database and snippets. No model work happens here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from django.db.models import QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from catalog.filters import AnimeCriteria
from catalog.models import Anime
from catalog.search.documents import synopsis_sentences
from catalog.search.keywords import fold, keyword_tokens, stem
from catalog.search.titles import TitleIndex, title_index
from catalog.search.understanding import QueryPlan


@dataclass(frozen=True)
class Reason:
    """Why a card is there: ``kind`` is title, keywords, meaning, cue or assist (Gemini named it);
    ``label`` is shown."""

    kind: str
    label: str


@dataclass
class SearchHit:
    anime: Anime
    score: float
    snippet: str = ""
    snippet_html: SafeString = field(default_factory=lambda: mark_safe(""))
    title_match: bool = False
    related: list[Anime] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)

    @property
    def related_count(self) -> int:
        return len(self.related)


@dataclass
class SearchResults:
    query: str
    mode: str
    hits: list[SearchHit]
    fold: bool
    timings: dict[str, float] = field(default_factory=dict)
    # True when the index could not answer and the database's keyword search did.
    degraded: bool = False
    # Why, for the page and the API (the reduced-mode notice, or the first build's progress).
    notice: str = ""
    # The first build's progress in percent while there is no index yet, else None.
    index_building: int | None = None
    # How the query was read (understanding.QueryPlan), when it was.
    plan: QueryPlan | None = None


def criteria_queryset(criteria: AnimeCriteria | None) -> QuerySet[Anime]:
    """The same filters on the database (for title matches, which do not come from the index)."""
    return (criteria or AnimeCriteria()).apply(Anime.objects.all())


class Candidate(NamedTuple):
    """One anime of a ranking, with what folding needs (and the index's payload for the rerank)."""

    mal_id: int
    score: float
    franchise_key: str
    members: int
    fields: dict[str, object] | None = None


_WORDS = re.compile(r"([A-Za-zÀ-ÿ0-9]+)")


def query_stems(query: str) -> set[str]:
    return set(keyword_tokens(query))


# Snippets look at the same synopses again and again (popular anime are hits of many queries), and
# splitting and stemming a synopsis costs ~1 ms: each text's analysis is kept, keyed by the text
# itself, so an edited synopsis is analysed afresh.
@lru_cache(maxsize=8192)
def _sentence_stems(sentence: str) -> frozenset[str]:
    return frozenset(keyword_tokens(sentence))


@lru_cache(maxsize=4096)
def _synopsis_sentences(synopsis: str) -> tuple[str, ...]:
    return tuple(synopsis_sentences(synopsis))


@lru_cache(maxsize=8192)
def _sentence_words(sentence: str) -> tuple[tuple[str, str], ...]:
    """The sentence cut into words and the text between them: (piece, its stem or "")."""
    return tuple(
        (piece, stem(fold(piece)) if _WORDS.fullmatch(piece) else "") for piece in _WORDS.split(sentence) if piece
    )


def best_sentence(synopsis: str, stems: set[str], index: TitleIndex) -> str:
    sentences = _synopsis_sentences(synopsis)
    if not sentences:
        return ""
    best, best_score = sentences[0], 0.0
    for sentence in sentences:
        score = sum(index.idf(t) for t in _sentence_stems(sentence) & stems)
        if score > best_score:
            best, best_score = sentence, score
    return best


def highlight(sentence: str, stems: set[str]) -> SafeString:
    """The sentence, HTML-escaped, with words matching the query wrapped in <mark>."""
    words = _sentence_words(sentence)
    return _highlight(sentence, frozenset(stem for _, stem in words if stem in stems))


@lru_cache(maxsize=8192)
def _highlight(sentence: str, marked: frozenset[str]) -> SafeString:
    parts = [
        f"<mark>{escape(piece)}</mark>" if word_stem in marked else escape(piece)
        for piece, word_stem in _sentence_words(sentence)
    ]
    return mark_safe("".join(parts))


def fold_franchise_hits(
    order: list[int],
    *,
    franchise: dict[int, str],
    members: dict[int, int],
    preferred: set[int],
    limit: int,
    fold: bool = True,
    cued: dict[int, float] | None = None,
) -> list[tuple[int, list[int]]]:
    """One card per franchise, ranked where the franchise's best hit ranks. The card shows the
    entry the query named by title, else the entry that matches most of the query's cues (its
    era, year, medium, studio: "the 80s one" shows the 1980s original, not its remake), else the
    franchise's best-known matching entry (most members): a search for "a notebook that kills"
    shows Death Note, not its recap special, with the other matching entries as "+N related"."""
    cued = cued or {}
    if not fold:
        return [(mal_id, []) for mal_id in order[:limit]]
    groups: dict[str, list[int]] = {}
    for mal_id in order:
        groups.setdefault(franchise.get(mal_id) or f"#{mal_id}", []).append(mal_id)
    cards: list[tuple[int, list[int]]] = []
    for entries in list(groups.values())[:limit]:
        named = [m for m in entries if m in preferred]
        head = (
            named[0] if named else max(entries, key=lambda m: (cued.get(m, 0.0), members.get(m, 0), -entries.index(m)))
        )
        cards.append((head, [m for m in entries if m != head]))
    return cards


RELATED_FIELDS = ("mal_id", "title", "title_english", "type", "year")


def hits_hydrate(
    groups: Sequence[tuple[int, list[int]]],
    *,
    query: str,
    titles: TitleIndex,
    score_of: dict[int, float],
    title_set: set[int],
    reasons: dict[int, list[Reason]] | None = None,
) -> list[SearchHit]:
    """Cards for folded hits (head id, related ids): the anime rows, a card's best score, and
    the synopsis sentence closest to the query as its snippet. Shared by the Qdrant path and
    the database fallback."""
    related = dict(groups)
    objects = {a.mal_id: a for a in Anime.objects.filter(mal_id__in=list(related)).prefetch_related("genres")}
    # Folded entries are listed by title, type and year only: no genres, no long text.
    others = {r for rel in related.values() for r in rel}
    if others:
        objects.update((a.mal_id, a) for a in Anime.objects.filter(mal_id__in=others).only(*RELATED_FIELDS))
    stems = query_stems(query)
    hits: list[SearchHit] = []
    for head, _ in groups:
        anime = objects.get(head)
        if anime is None:  # deleted since it was indexed
            continue
        sentence = best_sentence(anime.synopsis, stems, titles)
        why = [Reason("title", "title")] if head in title_set else []
        words = matched_words(anime.synopsis, stems, titles)
        if words:
            why.append(Reason("keywords", ", ".join(words)))
        why.extend((reasons or {}).get(head, []))
        hits.append(
            SearchHit(
                anime=anime,
                score=max(score_of.get(m, 0.0) for m in [head, *related[head]]),
                snippet=sentence,
                snippet_html=highlight(sentence, stems),
                title_match=head in title_set,
                related=[objects[r] for r in related[head] if r in objects],
                reasons=why,
            )
        )
    return hits


# A word found in more synopses than this share explains little ("whose", "anyone", "life"): the
# "why" leaves it out. IDF as BM25 counts it: log(1 + (N - df + 0.5) / (df + 0.5)); 2.0 is a word
# in about one synopsis in eight.
WHY_MIN_IDF = 2.0
# Function words the keyword stop list keeps (they cost nothing in BM25) but that explain nothing.
WHY_SKIP = frozenset(
    """whose anyone anything everyone everything someone something nothing nobody whoever whatever
    another every even much many like really around back thing things way""".split()
)


def matched_words(synopsis: str, stems: set[str], index: TitleIndex, *, most: int = 4) -> list[str]:
    """The synopsis words (as written) that match the query's keywords, rarest first, at most
    ``most``; words most synopses share are left out."""
    words = _synopsis_words(synopsis)
    found = {s: words[s] for s in stems & words.keys() if index.idf(s) >= WHY_MIN_IDF}
    return [found[s] for s in sorted(found, key=lambda s: (-index.idf(s), found[s]))][:most]


@lru_cache(maxsize=4096)
def _synopsis_words(synopsis: str) -> dict[str, str]:
    """Each stem of the synopsis with the word (lower case) it first appears as, function words
    left out: what ``matched_words`` looks the query's keywords up in."""
    words: dict[str, str] = {}
    for sentence in _synopsis_sentences(synopsis):
        for piece, word_stem in _sentence_words(sentence):
            if word_stem and word_stem not in words and piece.lower() not in WHY_SKIP:
                words[word_stem] = piece.lower()
    return words


@dataclass
class SimilarResults:
    """ "More like this": the hits, and whether they came from the genre fallback."""

    hits: list[SearchHit]
    degraded: bool = False


def title_candidates(
    query: str,
    criteria: AnimeCriteria | None,
    titles: TitleIndex,
    *,
    typed: str = "",
    excluded: Collection[int] = (),
) -> list[Candidate]:
    """Anime whose title the query names (best match first), within the filters. ``typed``: the
    query as the user typed it, when ``query`` is what understanding left of it; it is matched
    first, since a title may hold words understanding reads as cues ("Ebiten ... OVA" is not the
    TV series "Ebiten ...", "... the Movie"), and the plot words next ("I think it was frieren").
    ``excluded``: anime the query said it is not ("not Evangelion")."""
    matches = [m for m in titles.match_any([typed, query]) if m.mal_id not in excluded]
    if not matches:
        return []
    allowed = {
        mal_id: (key, members or 0)
        for mal_id, key, members in criteria_queryset(criteria)
        .filter(mal_id__in=[m.mal_id for m in matches])
        .values_list("mal_id", "franchise_key", "members")
    }
    found: dict[int, Candidate] = {}
    for match in matches:
        if match.mal_id in allowed and match.mal_id not in found:
            key, members = allowed[match.mal_id]
            found[match.mal_id] = Candidate(match.mal_id, 0.0, key, members)
    return list(found.values())


def results_assemble(
    ranked: Sequence[Candidate],
    *,
    query: str,
    criteria: AnimeCriteria | None,
    mode: str,
    limit: int,
    fold_franchises: bool,
    title_score: float = 0.0,
    timings: dict[str, float] | None = None,
    reasons: dict[int, list[Reason]] | None = None,
    titles: TitleIndex | None = None,
    typed: str = "",
    excluded: Collection[int] = (),
) -> SearchResults:
    """Title matches first, then ``ranked``; one card per franchise; cards hydrated with snippets.
    A title match scores at least ``title_score``. ``titles``: the title index the caller already
    holds (else it is looked up). ``typed``: the query as typed, when ``query`` is what
    understanding left of it (both name titles); ``excluded``: anime the query said it is not."""
    timings = {} if timings is None else timings
    mark = time.perf_counter()
    titles = title_index() if titles is None else titles
    named = title_candidates(query, criteria, titles, typed=typed, excluded=excluded)
    title_set = {c.mal_id for c in named}
    franchise = {c.mal_id: c.franchise_key for c in (*ranked, *named)}
    members = {c.mal_id: c.members for c in (*ranked, *named)}
    score_of = {c.mal_id: c.score for c in ranked}
    for candidate in named:
        score_of[candidate.mal_id] = max(score_of.get(candidate.mal_id, 0.0), title_score)
    order = [c.mal_id for c in named] + [c.mal_id for c in ranked if c.mal_id not in title_set]
    cued = {m: float(sum(r.kind == "cue" for r in why)) for m, why in (reasons or {}).items()}
    groups = fold_franchise_hits(
        order,
        franchise=franchise,
        members=members,
        preferred=title_set,
        limit=limit,
        fold=fold_franchises,
        cued=cued,
    )
    timings["fuse"] = time.perf_counter() - mark
    mark = time.perf_counter()
    hits = hits_hydrate(groups, query=query, titles=titles, score_of=score_of, title_set=title_set, reasons=reasons)
    timings["hydrate"] = time.perf_counter() - mark
    return SearchResults(query=query, mode=mode, hits=hits, fold=fold_franchises, timings=timings)
