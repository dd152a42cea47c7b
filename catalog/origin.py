"""Where an anime was made, read from how it is titled (none of the catalogue's sources has a
country field): ``country_of_origin`` gives "KR", "CN" or "" (Japanese, or not known).

- Korean: the native title (``title_japanese``, which holds the original-language title) is
  written in Hangul. 817 anime of the whole catalogue.
- Chinese (donghua; Taiwan and Hong Kong read the same): a native title of Chinese characters
  with no kana, and either a character Japanese does not write (outside JIS X 0208: simplified
  forms such as 师, 灵, 记; Japanese writes 師, 霊, 記) or a main title in pinyin (a syllable
  romaji never has: x, q, zh, a final -ng). Japanese titles written only in kanji (呪術廻戦,
  氷菓) pass neither test. ~4,200 anime; of the 40 best-known found, all are Chinese, and the
  known misses are a few Japanese titles with an English word ending in -ng.

A heuristic of the script, so search reads it as a soft cue (``understanding``), never a filter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catalog.models import Anime

KOREA, CHINA = "KR", "CN"

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
# A romanised word romaji never spells: x or q inside a word, zh, or a final -ng.
_PINYIN = re.compile(r"\b(?:[a-z]*[xq][a-z]+|[a-z]+[xq]|[a-z]*zh[a-z]*|[a-z]+ng)\b", re.IGNORECASE)


def _outside_japanese(character: str) -> bool:
    try:
        character.encode("euc_jp")
    except UnicodeEncodeError:
        return True
    return False


def country_of_origin_of(*, native_title: str, title: str) -> str:
    """ "KR", "CN" or "" for an anime titled ``title`` (romanised) and ``native_title``."""
    native = native_title or ""
    if _HANGUL.search(native):
        return KOREA
    if not _HAN.search(native) or _KANA.search(native):
        return ""
    if any(_outside_japanese(ch) for ch in native if _HAN.match(ch)):
        return CHINA
    if not _LATIN.search(native) and _PINYIN.search(title or ""):
        return CHINA
    return ""


def country_of_origin(anime: Anime) -> str:
    return country_of_origin_of(native_title=anime.title_japanese, title=anime.title)
