"""The franchise key: one string shared by the seasons, sequels, movies and specials of a series.

Heuristic, applied to the main (romaji) title, which MyAnimeList keeps consistent within a
franchise far more than English titles:

1. lower-case, fold accents, turn ``°``/``'``/``.`` decorations (Gintama°, Gintama') into spaces;
2. cut at the first subtitle separator (``:``, `` - ``, ``!?``) when what stays is at least
   four characters long (so "Re:Zero…" keeps its name);
3. drop sequel markers at the end: "2nd Season", "Season 2", "Part 2", "Final Season",
   "Movie", "Specials", "OVA", "The Movie", "Shippuuden", roman numerals, trailing numbers;
4. slugify what remains.

Staff can pin a key by hand (``Anime.franchise_override``) where the heuristic misses.
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
