"""Title matching: main, English, Japanese titles and synonyms, tolerant of small typos.

An in-memory index built once per process from the database (and rebuilt when the catalogue
changes): title tokens -> titles, plus a trigram index of the token vocabulary to find the
tokens a misspelt query word was meant to be. It also holds the keyword document frequencies
that snippets use to weigh query words.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from django.db.models import Max
from rapidfuzz.distance import Levenshtein

from catalog.models import Anime
from catalog.search.documents import anime_titles, clean_synopsis
from catalog.search.keywords import fold, keyword_tokens

_WORD = re.compile(r"[a-z0-9]+")
# A query longer than this is a description, not a title, unless it is a whole title.
MAX_PARTIAL_TOKENS = 6
# How close a misspelt word must be to a title word (1 - edit distance / longer length):
# "sosou" ~ "sousou" 0.83, "frieran" ~ "frieren" 0.86, "kyojin" vs "kaijin" 0.67 stays apart.
FUZZY_RATIO = 0.8
MIN_COVERAGE = 0.25
# A word in at least this share of the synopses (1 in 250) is an everyday word ("robot", "hero",
# "planet": 1 synopsis in 40 to 65; studio words like "ghibli", "madhouse", "kyoto" 1 in 300 or
# fewer): a studio named with such words alone is read as a studio only in context (understanding).
EVERYDAY_SHARE = 0.004


def title_tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)))


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length (rapidfuzz: 532 dev queries matched as the
    hand-written distance did, the fuzzy path ~2.7x faster with the trigram count below). Compared
    to ``FUZZY_RATIO`` by the caller: rapidfuzz's own ``score_cutoff`` drops a ratio of exactly
    0.8 ("yaba" ~ "yaiba") through float rounding."""
    return Levenshtein.normalized_similarity(a, b)


def _trigrams(token: str) -> set[str]:
    padded = f"  {token} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(frozen=True)
class TitleMatch:
    mal_id: int
    title: str
    quality: float  # 0..1: share of the title the query covers, typos discounted
    exact: bool


class TitleIndex:
    def __init__(self) -> None:
        self.titles: list[tuple[int, str, tuple[str, ...]]] = []
        self.members: dict[int, int] = {}
        self.by_token: dict[str, set[int]] = defaultdict(set)
        self.by_trigram: dict[str, set[str]] = defaultdict(set)
        self.exact: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.document_frequency: dict[str, int] = defaultdict(int)
        self.documents = 0
        # The catalogue's studio names, each with the number of anime credited to it (query
        # understanding reads them as cues), and franchises.
        self.studios: Counter[str] = Counter()
        self.franchise_of: dict[int, str] = {}
        self.franchises: dict[str, set[int]] = defaultdict(set)
        # A word's close title words cost milliseconds to find (its trigrams are shared by
        # thousands of words) and the same words come again and again (a search as you type):
        # kept per index, whose vocabulary they depend on.
        self._close_tokens = lru_cache(maxsize=8192)(self._close_tokens_find)

    @classmethod
    def build(cls) -> TitleIndex:
        index = cls()
        rows = Anime.objects.only(
            "mal_id",
            "title",
            "title_english",
            "title_japanese",
            "title_synonyms",
            "title_other",
            "members",
            "synopsis",
            "studios",
            "franchise_key",
        )
        for anime in rows.iterator(chunk_size=500):
            index.members[anime.mal_id] = anime.members or 0
            index.studios.update(anime.studios or [])
            index.franchise_of[anime.mal_id] = anime.franchise_key
            index.franchises[anime.franchise_key or f"#{anime.mal_id}"].add(anime.mal_id)
            for title in anime_titles(anime, other_languages=True):
                tokens = title_tokens(title)
                if not tokens:
                    continue
                position = len(index.titles)
                index.titles.append((anime.mal_id, title, tokens))
                index.exact[tokens].add(position)
                for token in set(tokens):
                    index.by_token[token].add(position)
            index.documents += 1
            for token in set(keyword_tokens(clean_synopsis(anime.synopsis))):
                index.document_frequency[token] += 1
        for token in index.by_token:
            for gram in _trigrams(token):
                index.by_trigram[gram].add(token)
        return index

    def franchise_ids(self, mal_id: int) -> set[int]:
        """Every anime of ``mal_id``'s franchise (itself included)."""
        return set(self.franchises.get(self.franchise_of.get(mal_id) or f"#{mal_id}", {mal_id}))

    def everyday(self, text: str) -> bool:
        """Whether every word of ``text`` is an everyday word of the synopses (or a stop word)."""
        floor = EVERYDAY_SHARE * self.documents
        return all(self.document_frequency.get(token, 0) >= floor for token in keyword_tokens(text))

    def idf(self, token: str) -> float:
        df = self.document_frequency.get(token, 0)
        return math.log(1 + (self.documents - df + 0.5) / (df + 0.5))

    def _close_tokens_find(self, token: str) -> dict[str, float]:
        """Title words equal or close to ``token`` -> similarity (1.0 for equal). A misspelt word
        may be another title's word as it stands ("yaba", "dank", "lane" all are): its close
        words count too, each title credited with the word it holds."""
        exact = {token: 1.0} if token in self.by_token else {}
        if len(token) < 4:
            return exact
        grams = _trigrams(token)
        # Counted in C (Counter over the chained sets), not word by word in Python.
        shared = Counter(chain.from_iterable(self.by_trigram.get(gram, ()) for gram in grams))
        close: dict[str, float] = {}
        for candidate, count in shared.items():
            if count * 2 < len(grams) or abs(len(candidate) - len(token)) > 2:
                continue
            ratio = similarity(token, candidate)
            if ratio >= FUZZY_RATIO:
                close[candidate] = ratio
        return close | exact

    def match(self, query: str, *, limit: int = 5) -> list[TitleMatch]:
        tokens = title_tokens(query)
        if not tokens:
            return []
        best: dict[int, TitleMatch] = {}

        def keep(match: TitleMatch) -> None:
            current = best.get(match.mal_id)
            if current is None or match.quality > current.quality:
                best[match.mal_id] = match

        for position in self.exact.get(tokens, ()):
            mal_id, title, _ = self.titles[position]
            keep(TitleMatch(mal_id, title, 1.0, True))
        if len(tokens) <= MAX_PARTIAL_TOKENS and any(len(t) >= 4 for t in tokens):
            per_token = [self._close_tokens(t) for t in tokens]
            if all(per_token):
                candidates: set[int] | None = None
                for close in per_token:
                    positions = set().union(*(self.by_token[c] for c in close))
                    candidates = positions if candidates is None else candidates & positions
                for position in candidates or ():
                    mal_id, title, title_toks = self.titles[position]
                    held = set(title_toks)
                    closeness = sum(max(r for t, r in close.items() if t in held) for close in per_token) / len(tokens)
                    # Whether the query names the title: the share of it covered, whatever the
                    # typos ("kiseiju" names "Kiseijuu: Sei no Kakuritsu" as "kiseijuu" does);
                    # how well: that share discounted by them.
                    share = min(1.0, len(tokens) / len(title_toks))
                    if share >= MIN_COVERAGE:
                        coverage = share * closeness
                        keep(TitleMatch(mal_id, title, coverage, coverage >= 1.0))
        ranked = sorted(best.values(), key=lambda m: (-m.quality, -self.members.get(m.mal_id, 0), m.mal_id))
        return ranked[:limit]

    def match_any(self, queries: Sequence[str], *, limit: int = 5) -> list[TitleMatch]:
        """The titles any of ``queries`` names, best first; at equal quality the earlier query's
        match first (the query as typed before the words understanding left of it)."""
        best: dict[int, tuple[TitleMatch, int]] = {}
        for order, query in enumerate(dict.fromkeys(q for q in queries if q)):
            for match in self.match(query, limit=limit):
                current = best.get(match.mal_id)
                if current is None or match.quality > current[0].quality:
                    best[match.mal_id] = (match, order)
        ranked = sorted(
            best.values(),
            key=lambda item: (-item[0].quality, item[1], -self.members.get(item[0].mal_id, 0), item[0].mal_id),
        )
        return [match for match, _ in ranked[:limit]]


_lock = threading.Lock()
_index: TitleIndex | None = None
_version: tuple[object, ...] | None = None


def catalogue_version() -> tuple[object, ...]:
    # Apart, each aggregate reads the updated_at index (~0.02 ms on SQLite); together in one query
    # they scan the table (~2.4 ms).
    return (Anime.objects.count(), Anime.objects.aggregate(latest=Max("updated_at"))["latest"])


def title_index() -> TitleIndex:
    """The process's title index, rebuilt when an anime was added, changed or removed."""
    global _index, _version
    version = catalogue_version()
    with _lock:
        if _index is None or version != _version:
            _index = TitleIndex.build()
            _version = version
        return _index


def title_index_reset() -> None:
    global _index, _version
    with _lock:
        _index = None
        _version = None
