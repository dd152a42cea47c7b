"""The franchise key: one string shared by the seasons, sequels, movies and specials of a series.

From the related-anime graph (``franchise_keys``): two anime are in one franchise when a chain
of prequel, sequel, parent story, side story, summary, full story, alternative version or
spin-off links joins them (MyAnimeList's relations, from the catalogue files and the crawler
alike); "character", "alternative setting" and "other" links do not join franchises (a shared
character or a loose link is not a series). An anime outside the catalogue can still join two
that are in it (a music video between two seasons). The key is the slug of the franchise's first
entry (earliest year, then lowest MAL id) and its id: "cowboy-bebop-1".

Many recaps, specials and picture dramas have no relations in MyAnimeList's data: such an anime
joins by its title when that is unambiguous (``franchise_keys``, rule 2). Hand-checked on a
sample of 120 franchises with several entries of the whole catalogue: the title heuristic below
(the whole rule before) was right for 70, the relations with the title rule for lone anime for
103 (README, "Catalogue").

The title heuristic now only names keys (``franchise_key_for``), applied to the main (romaji)
title:

1. lower-case, fold accents, turn ``°``/``'``/``.`` decorations (Gintama°, Gintama') into spaces;
2. cut at the first subtitle separator (``:``, `` - ``, ``!?``) when what stays is at least
   four characters long (so "Re:Zero…" keeps its name);
3. drop sequel markers at the end: "2nd Season", "Season 2", "Part 2", "Final Season",
   "Movie", "Specials", "OVA", "The Movie", "Shippuuden", roman numerals, trailing numbers;
4. slugify what remains.

Staff can pin a key by hand (``Anime.franchise_override``) where both miss.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

_DECORATIONS = re.compile(r"[°'’`\.\u2019\u00b7\[\]\"“”]")
_SEPARATORS = re.compile(r"\s*(?::|\s-\s|\s–\s|\?\s|!\s|;\s)")
_SEQUEL_TAIL = re.compile(
    r"""(?:\s+(?:
        \d+(?:st|nd|rd|th)\s+season
      | season\s*\d+
      | (?:the\s+)?final\s+season
      | (?:the\s+)?final
      | part\s*\d+
      | cour\s*\d+
      | (?:the\s+)?movie(?:\s*\d+)?
      | gekijouban
      | specials?
      | ova|ona|oad|tv
      | shippuuden
      | kanketsu-hen
      | zoku-hen
      | (?:[ivx]+)
      | \d+
    ))+\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_LEADING = re.compile(r"^(?:gekijouban|eiga|shin)\s+", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def franchise_key_for(title: str) -> str:
    """Return the franchise key of a main title (see the module docstring for the rules)."""
    text = _DECORATIONS.sub(" ", _fold(title or "")).strip()
    head = _SEPARATORS.split(text, maxsplit=1)[0].strip()
    if len(head) >= 4:
        text = head
    text = _LEADING.sub("", text)
    stripped = _SEQUEL_TAIL.sub("", text).strip()
    if len(stripped) >= 3:
        text = stripped
    key = _NON_WORD.sub("-", text).strip("-")
    return key[:120] or "untitled"


def first_per_franchise[T](items: Iterable[T], franchise_of: Callable[[T], str], limit: int) -> list[T]:
    """The first item of each franchise, in order, up to ``limit`` ("one card per franchise");
    an item without a franchise key stands alone."""
    chosen: list[T] = []
    seen: set[str] = set()
    for item in items:
        key = franchise_of(item)
        if key and key in seen:
            continue
        if key:
            seen.add(key)
        chosen.append(item)
        if len(chosen) >= limit:
            break
    return chosen


# The relations that put two anime in one franchise (catalog.models.RelationType's values).
JOINING_RELATIONS = frozenset(
    {"prequel", "sequel", "parent", "side_story", "summary", "full_story", "alternative", "spin_off"}
)


def _words(title: str) -> str:
    """A title as lower-case words between single spaces, accents folded: "hikaru no go"."""
    return " ".join(_NON_WORD.sub(" ", _fold(title or "")).split())


# Words that, after a one-word franchise title, mark an extra of it ("Bleach Recap"), not
# another work ("Summer Wars"); bare numbers are not among them ("Samurai 7" is not "Samurai").
_EXTRA_WORDS = frozenset(
    "recap recaps digest omake picture drama special specials movie film ova oad ona pilot prologue epilogue "
    "short shorts mini".split()
)


# Words that do not make a title distinctive ("The Legend", "My Love Story" name many works).
_FILLER = frozenset("the a an of and my your our no to wa ga de ni wo".split())


def _franchise_prefixes(title: str, *, english: bool = False) -> list[str]:
    """The titles a lone anime's title may extend, longest first: its whole-word beginnings
    ("Hikaru no Go: Memories" -> "hikaru no go", "hikaru no", ...) that are distinctive enough
    to name one work: two words besides fillers and eight letters (three words for an English
    title: "The Legend", "My Love Story" and "Summer Time" name many), or one word when a
    subtitle separator or an extra's word follows it ("Bleach: ...", "IDOLiSH7 Special", never
    "Summer Wars" or "Samurai 7")."""
    words = _words(title).split()
    text = _DECORATIONS.sub(" ", _fold(title or "")).strip()
    head = _words(_SEPARATORS.split(text, maxsplit=1)[0])
    needed = 3 if english else 2
    prefixes = []
    for size in range(len(words) - 1, 0, -1):
        prefix = words[:size]
        distinctive = [w for w in prefix if w not in _FILLER]
        if (len(distinctive) >= needed and len("".join(prefix)) >= 8) or (
            size == 1 and not english and (prefix[0] == head or words[1] in _EXTRA_WORDS)
        ):
            prefixes.append(" ".join(prefix))
    return prefixes


def franchise_keys(
    entries: dict[int, tuple[str, str, int | None, bool]], links: Iterable[tuple[int, int, str]]
) -> dict[int, str]:
    """The franchise key of every catalogue anime. ``entries``: MAL id -> (main title, English
    title, year, whether any source gave its relations); ``links``: (MAL id, related MAL id,
    relation), the related one possibly outside the catalogue.

    1. Anime joined by a chain of joining relations form one franchise.
    2. An anime joined to no other (many recaps, specials, picture dramas and later seasons have
       no relations in MyAnimeList's data; a new series may not have been checked yet) joins the
       anime whose whole main or English title its own title begins with, word for word ("Hikaru
       no Go: Memories", "Love Hina Final Selection", "AOTU Xueyuan 3rd Season"), the longest
       such title, when exactly one franchise (or lone anime) has it and the title is distinctive
       enough (``_franchise_prefixes``: never "Summer Wars" -> "Summer", "The Legend of Heroes"
       -> "The Legend").
    3. The key names the franchise's first entry (earliest year, then lowest MAL id) among the
       anime the relations joined, so an anime joined by title never renames a franchise."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(a: int, b: int) -> None:
        a, b = root(a), root(b)
        if a != b:
            parent[a] = b

    for source, target, relation in links:
        if relation in JOINING_RELATIONS and source != target:
            union(source, target)
    linked: dict[int, list[int]] = {}
    for mal_id in entries:
        linked.setdefault(root(mal_id), []).append(mal_id)
    core = {mal_id: group_root for group_root, group in linked.items() for mal_id in group}
    lone = {mal_id for mal_id in entries if len(linked[core[mal_id]]) == 1}
    anchors: dict[str, set[int]] = {}
    for mal_id in entries:
        for title in entries[mal_id][:2]:
            if title:
                anchors.setdefault(_words(title), set()).add(core[mal_id])
    attached: set[int] = set()
    for mal_id in lone:
        own = core[mal_id]
        main, english = entries[mal_id][:2]
        prefixes = sorted(
            {*_franchise_prefixes(main), *(_franchise_prefixes(english, english=True) if english else ())},
            key=len,
            reverse=True,
        )
        for prefix in prefixes:
            targets = anchors.get(prefix, set()) - {own}
            if len(targets) == 1:
                union(mal_id, next(iter(targets)))
                attached.add(mal_id)
            if targets:
                break  # the longest title found decides; several franchises with it: too ambiguous
    groups: dict[int, list[int]] = {}
    for mal_id in entries:
        groups.setdefault(root(mal_id), []).append(mal_id)
    keys: dict[int, str] = {}
    for group in groups.values():
        named = [m for m in group if m not in attached] or group
        first = min(named, key=lambda m: (entries[m][2] or 9999, m))
        keys.update(dict.fromkeys(group, f"{franchise_key_for(entries[first][0])[:100]}-{first}"))
    return keys
