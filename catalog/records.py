"""Source records -> one normalised ``AnimeRecord``.

Every way an anime enters the catalogue (the importer's four file shapes, the Jikan spider, the
MyAnimeList spider) ends here, so the same source data always yields the same stored fields.
Parsers raise ``RecordError`` with a short reason; callers count and skip.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.vocabulary import DEMOGRAPHIC, GENRE, THEME, anime_status, anime_type, genre_kind

# Field names of ``catalog.models.Anime`` that records carry.
TEXT_FIELDS = (
    "title", "title_english", "title_japanese", "type", "status", "season", "source", "rating",
    "duration", "synopsis", "background", "image_url", "mal_url",
)  # fmt: skip
INT_FIELDS = ("episodes", "year", "scored_by", "rank", "popularity", "members", "favorites")
DATE_FIELDS = ("aired_from", "aired_to", "members_as_of")
LIST_FIELDS = ("title_synonyms", "title_other", "studios", "episode_titles")
RECORD_FIELDS = TEXT_FIELDS + INT_FIELDS + DATE_FIELDS + LIST_FIELDS + ("score", "members_estimated")
# Counts that change over time: the newest record wins for these even when older ones disagree.
COUNT_FIELDS = ("score", "scored_by", "rank", "popularity", "members", "favorites")
# Fields that only mean something together: a merge takes them all from the one record that
# has the first of them (a member count with its date and whether it is an estimate).
FIELD_GROUPS = (("members", "members_as_of", "members_estimated"),)
# The relations the sources name, in the catalogue's words (catalog.models.RelationType).
RELATIONS = {
    "prequel": "prequel",
    "sequel": "sequel",
    "parent": "parent",
    "parent story": "parent",
    "side story": "side_story",
    "side_story": "side_story",
    "summary": "summary",
    "full story": "full_story",
    "alternative": "alternative",
    "alternative version": "alternative",
    "alternative setting": "alternative_setting",
    "spin-off": "spin_off",
    "spin_off": "spin_off",
    "character": "character",
    "other": "other",
}


def mal_url_for(mal_id: int) -> str:
    """MyAnimeList's canonical page of an anime (it redirects to the slugged URL)."""
    return f"https://myanimelist.net/anime/{mal_id}"


class RecordError(ValueError):
    """A record that cannot be stored; ``reason`` is the short label it is counted under."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class AnimeRecord:
    mal_id: int
    fields: dict[str, Any]
    genres: list[tuple[str, str]] = field(default_factory=list)  # (name, kind)
    source: str = ""
    fetched_at: dt.datetime | None = None
    # Between records of one date, higher wins (see merge_records); the date decides first.
    priority: int = 0
    tags: list[str] = field(default_factory=list)  # descriptive tags beyond MAL's genres
    # (related MAL id, relation) pairs; None: this source says nothing of relations (an empty
    # list: it says there are none).
    relations: list[tuple[int, str]] | None = None
    # Fields this source has only second-hand (another site's version of MyAnimeList's value):
    # a merge takes them only when no source has MyAnimeList's own (``merge_records``).
    fallback: frozenset[str] = frozenset()

    @property
    def title(self) -> str:
        return self.fields.get("title", "")

    @property
    def adult(self) -> bool:
        """Adult titles (the Hentai genre or an Rx rating): kept out of the catalogue unless a
        setting brings them in, and then hidden from anyone who has not asked for them."""
        rating = str(self.fields.get("rating", ""))
        return rating.lower().startswith("rx") or any(name == "Hentai" for name, _ in self.genres)


# --------------------------------------------------------------------------- value cleaning


def _clean_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"wrong type: {name}", f"expected text, got {type(value).__name__}")
    # The seed's synopses carry Windows line ends as "\n\r\n". NUL cannot be stored by Postgres.
    text = value.replace("\x00", "").replace("\r\n", "\n").replace("\r", "")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _clean_int(value: Any, name: str) -> int | None:
    if value is None or value == "" or value == "?":
        return None
    if isinstance(value, bool):
        raise RecordError(f"wrong type: {name}", "expected a whole number, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[\d,]+\s*", value):
        number = int(value.replace(",", ""))
    else:
        raise RecordError(f"wrong type: {name}", f"expected a whole number, got {value!r}"[:120])
    if number < 0:
        raise RecordError(f"wrong type: {name}", f"negative value {number}")
    return number


def _clean_score(value: Any) -> float | None:
    if value is None or value == "" or value == "N/A":
        return None
    if isinstance(value, bool):
        raise RecordError("non-numeric score", repr(value))
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise RecordError("non-numeric score", repr(value)[:80]) from None
    if score != score or score < 0 or score > 10:
        raise RecordError("non-numeric score", f"out of range: {value!r}")
    # MyAnimeList serves 0 (and Jikan null) for "not yet scored": both mean unknown.
    return score or None


def _clean_str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"wrong type: {name}", f"expected a list, got {type(value).__name__}")
    out: list[str] = []
    for item in value:
        if isinstance(item, Mapping):
            item = item.get("name")
        if not isinstance(item, str):
            raise RecordError(f"wrong type: {name}", f"expected names, got {type(item).__name__}")
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


def _parse_iso_date(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"wrong type: {name}", f"expected a date, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise RecordError(f"wrong type: {name}", f"not a date: {value!r}") from None


_MONTHS = {m: i for i, m in enumerate(("jan feb mar apr may jun jul aug sep oct nov dec").split(), 1)}


def parse_aired_text(text: str) -> tuple[dt.date | None, dt.date | None, int | None]:
    """Read MyAnimeList's display dates ("Sep 29, 2023 to Mar 22, 2024", "Apr 1998 to ?",
    "2010"): full dates become dates, partial ones give only the start year."""

    def one(part: str) -> tuple[dt.date | None, int | None]:
        part = part.strip()
        m = re.fullmatch(r"([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2}),\s*(\d{4})", part)
        if m and m.group(1).lower() in _MONTHS:
            try:
                day = dt.date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
            except ValueError:
                return None, int(m.group(3))
            return day, day.year
        m = re.search(r"(\d{4})", part)
        return None, int(m.group(1)) if m else None

    if not text or not text.strip():
        return None, None, None
    pieces = re.split(r"\s+(?:to|-)\s+", text.strip(), maxsplit=1)
    start, year = one(pieces[0])
    end = one(pieces[1])[0] if len(pieces) > 1 else None
    if len(pieces) == 1 and start is not None:
        end = start  # a one-day release (movie, special) airs from and to the same day
    return start, end, year


def _genres_from_lists(data: Mapping[str, Any], keys: Mapping[str, str]) -> list[tuple[str, str]]:
    genres: list[tuple[str, str]] = []
    for key, kind in keys.items():
        for name in _clean_str_list(data.get(key), key):
            if (name, kind) not in genres:
                genres.append((name, kind))
    return genres


def _require_identity(data: Mapping[str, Any], id_key: str, title_key: str) -> tuple[int, str]:
    raw_id = data.get(id_key)
    if raw_id in (None, ""):
        raise RecordError("missing id")
    try:
        mal_id = _clean_int(raw_id, "mal_id")
    except RecordError:
        raise RecordError("wrong type: mal_id", repr(raw_id)[:80]) from None
    if not mal_id:
        raise RecordError("missing id")
    title = _clean_text(data.get(title_key), "title")
    if not title:
        raise RecordError("missing title", f"MAL id {mal_id}")
    return mal_id, title


_SAFE_URL = re.compile(r"https?://\S+\Z", re.IGNORECASE)


# The short ratings of AniList and Kitsu, in MyAnimeList's words.
_RATINGS = {
    "g": "G - All Ages",
    "pg": "PG - Children",
    "pg-13": "PG-13 - Teens 13 or older",
    "r": "R - 17+ (violence & profanity)",
    "r+": "R+ - Mild Nudity",
    "r18": "Rx - Hentai",
    "rx": "Rx - Hentai",
}


def _finish(mal_id: int, values: dict[str, Any], fetched_at: dt.datetime | None = None) -> dict[str, Any]:
    # A source without a page URL leaves mal_url out (the catalogue falls back to
    # ``mal_url_for``), so merging never lets a made-up URL hide a source's real one.
    if values.get("season"):
        values["season"] = values["season"].lower()
    # One spelling per type and status, whatever the source (catalog/vocabulary.py).
    if "type" in values:
        values["type"] = anime_type(values["type"] or "")
    if values.get("status"):
        values["status"] = anime_status(values["status"])
    if values.get("rating"):
        values["rating"] = _RATINGS.get(values["rating"].strip().lower(), values["rating"])
    # A member count is stored with its date (the source's), so it is never shown as current.
    if values.get("members") is not None:
        values.setdefault("members_as_of", fetched_at.date() if fetched_at else None)
        values.setdefault("members_estimated", False)
    # Links are rendered into href/src: anything but http(s) (javascript:, data:, ...) is dropped.
    for key in ("image_url", "mal_url"):
        if values.get(key) and not _SAFE_URL.match(values[key]):
            values[key] = ""
    return {k: v for k, v in values.items() if v is not None and v != "" and v != []}


# --------------------------------------------------------------------------- formats

JIKAN_GENRE_KEYS = {
    "genres": GENRE,
    "explicit_genres": GENRE,
    "themes": THEME,
    "demographics": DEMOGRAPHIC,
}


# Fields the Jikan API's objects and both flattened Jikan dumps spell the same way.
_JIKAN_TEXT = (
    "title_english",
    "title_japanese",
    "type",
    "status",
    "season",
    "source",
    "rating",
    "duration",
    "synopsis",
    "background",
)
_JIKAN_INT = ("episodes", "scored_by", "rank", "popularity", "members", "favorites")
_JIKAN_LISTS = ("title_synonyms", "studios")


def _jikan_common(data: Mapping[str, Any], title: str) -> dict[str, Any]:
    """The fields every Jikan-shaped record holds under the same key; the callers add the dates,
    the year and the cover, whose shapes differ."""
    values: dict[str, Any] = {"title": title}
    values.update({name: _clean_text(data.get(name), name) for name in _JIKAN_TEXT})
    values.update({name: _clean_int(data.get(name), name) for name in _JIKAN_INT})
    values.update({name: _clean_str_list(data.get(name), name) for name in _JIKAN_LISTS})
    values["score"] = _clean_score(data.get("score"))
    values["mal_url"] = _clean_text(data.get("url"), "url")
    return values


# Jikan's ``titles`` list repeats the main, Japanese and English titles and the synonyms, which
# have fields of their own; what is left are the titles in other languages.
_TITLE_TYPES_KEPT_ELSEWHERE = {"default", "japanese", "english", "synonym"}


def _other_language_titles(titles: Any) -> list[str]:
    """``[{"type": "French", "title": "..."}, ...]`` -> the titles in other languages that differ
    from the main, Japanese and English titles and the synonyms."""
    if titles in (None, ""):
        return []
    if not isinstance(titles, list) or not all(isinstance(entry, Mapping) for entry in titles):
        raise RecordError("wrong type: titles", "expected a list of {type, title} objects")
    entries = [(str(e.get("type") or "").strip().lower(), _clean_text(e.get("title"), "titles")) for e in titles]
    elsewhere = {title.lower() for kind, title in entries if kind in _TITLE_TYPES_KEPT_ELSEWHERE}
    found: list[str] = []
    for kind, title in entries:
        if title and kind not in _TITLE_TYPES_KEPT_ELSEWHERE and title.lower() not in elsewhere:
            elsewhere.add(title.lower())
            found.append(title)
    return found


def record_from_jikan(
    data: Mapping[str, Any], *, source: str = "jikan", priority: int = 0, fetched_at: dt.datetime | None = None
) -> AnimeRecord:
    """A Jikan v4 anime object (``/anime/{id}``, ``/anime/{id}/full``, list pages)."""
    mal_id, title = _require_identity(data, "mal_id", "title")
    aired = data.get("aired") or {}
    if not isinstance(aired, Mapping):
        raise RecordError("wrong type: aired", f"expected an object, got {type(aired).__name__}")
    images = data.get("images") or {}
    jpg = images.get("jpg") or {} if isinstance(images, Mapping) else {}
    values: dict[str, Any] = {
        **_jikan_common(data, title),
        "aired_from": _parse_iso_date(aired.get("from"), "aired_from"),
        "aired_to": _parse_iso_date(aired.get("to"), "aired_to"),
        "year": _clean_int(data.get("year"), "year"),
        "image_url": _clean_text(jpg.get("large_image_url") or jpg.get("image_url"), "image_url"),
    }
    if values["year"] is None and values["aired_from"] is not None:
        values["year"] = values["aired_from"].year
    values["title_other"] = _other_language_titles(data.get("titles"))
    return AnimeRecord(
        mal_id=mal_id,
        fields=_finish(mal_id, values, fetched_at),
        genres=_genres_from_lists(data, JIKAN_GENRE_KEYS),
        source=source,
        fetched_at=fetched_at,
        priority=priority,
        relations=relations_from_jikan(data["relations"]) if "relations" in data else None,
    )


def _relation(name: Any) -> str | None:
    return RELATIONS.get(str(name or "").strip().lower().replace("-", " ").replace("spin off", "spin-off"))


def relations_from_jikan(groups: Any) -> list[tuple[int, str]]:
    """Jikan's ``relations`` (``/anime/{id}/full`` or ``/anime/{id}/relations``): ``[{"relation":
    "Sequel", "entry": [{"mal_id", "type": "anime"|"manga", "name"}]}]`` -> the anime ones."""
    if groups is None:
        return []
    if not isinstance(groups, list):
        raise RecordError("wrong type: relations", f"expected a list, got {type(groups).__name__}")
    found: list[tuple[int, str]] = []
    for group in groups:
        if not isinstance(group, Mapping):
            raise RecordError("wrong type: relations", "expected {relation, entry} objects")
        relation = _relation(group.get("relation"))
        for entry in group.get("entry") or []:
            if not isinstance(entry, Mapping) or entry.get("type") not in (None, "anime"):
                continue
            related = _clean_int(entry.get("mal_id"), "relations")
            if relation and related and (related, relation) not in found:
                found.append((related, relation))
    return found


def record_from_flat(
    data: Mapping[str, Any], *, source: str, priority: int = 0, fetched_at: dt.datetime | None = None
) -> AnimeRecord:
    """Flattened Jikan records: the season dumps (``aired_from``/``aired_to``, names as strings)
    and the other flat shape (``aired`` as display text, names as ``{mal_id, name}``)."""
    mal_id, title = _require_identity(data, "mal_id", "title")
    if "aired_from" in data or "aired_to" in data:
        aired_from = _parse_iso_date(data.get("aired_from"), "aired_from")
        aired_to = _parse_iso_date(data.get("aired_to"), "aired_to")
        aired_year = aired_from.year if aired_from else None
    else:
        aired_text = data.get("aired")
        if aired_text is not None and not isinstance(aired_text, str):
            raise RecordError("wrong type: aired", f"expected text, got {type(aired_text).__name__}")
        aired_from, aired_to, aired_year = parse_aired_text(aired_text or "")
    values: dict[str, Any] = {
        **_jikan_common(data, title),
        "aired_from": aired_from,
        "aired_to": aired_to,
        "year": _clean_int(data.get("year"), "year") or aired_year,
        "image_url": _clean_text(data.get("image_url"), "image_url"),
    }
    return AnimeRecord(
        mal_id=mal_id,
        fields=_finish(mal_id, values, fetched_at),
        genres=_genres_from_lists(data, {"genres": GENRE, "themes": THEME, "demographics": DEMOGRAPHIC}),
        source=source,
        fetched_at=fetched_at,
        priority=priority,
    )


def split_mixed_genres(names: Iterable[str]) -> list[tuple[str, str]]:
    """Split a mixed list (the seed's) into (name, kind) by MyAnimeList's vocabulary.
    Names outside the vocabulary are kept as genres rather than dropped."""
    out: list[tuple[str, str]] = []
    for name in names:
        name = name.strip()
        if name:
            pair = (name, genre_kind(name) or GENRE)
            if pair not in out:
                out.append(pair)
    return out


def record_from_seed(
    data: Mapping[str, Any], *, source: str = "seed", priority: int = 0, fetched_at: dt.datetime | None = None
) -> AnimeRecord:
    """The seed project's export: ``{ID, Name, Type, Episodes, Aired, Members, Scores, Label,
    Sypnosis, Genres}`` with one comma-separated genre string."""
    mal_id, title = _require_identity(data, "ID", "Name")
    genres_raw = data.get("Genres")
    if genres_raw is not None and not isinstance(genres_raw, str):
        raise RecordError("wrong type: genres", f"expected text, got {type(genres_raw).__name__}")
    aired_raw = data.get("Aired")
    if aired_raw is not None and not isinstance(aired_raw, str):
        raise RecordError("wrong type: aired", f"expected text, got {type(aired_raw).__name__}")
    # "Sep 2023 - Mar 2024": month precision only, so keep the year and leave dates unknown.
    _, _, year = parse_aired_text(aired_raw or "")
    values: dict[str, Any] = {
        "title": title,
        "type": _clean_text(data.get("Type"), "type"),
        "episodes": _clean_int(data.get("Episodes"), "episodes"),
        "year": year,
        "members": _clean_int(data.get("Members"), "members"),
        "score": _clean_score(data.get("Scores")),
        "synopsis": _clean_text(data.get("Sypnosis", data.get("Synopsis")), "synopsis"),
    }
    return AnimeRecord(
        mal_id=mal_id,
        fields=_finish(mal_id, values, fetched_at),
        genres=split_mixed_genres((genres_raw or "").split(",")),
        source=source,
        fetched_at=fetched_at,
        priority=priority,
    )


# --------------------------------------------------------------------------- anime-mapper

_LATIN = re.compile(r"^[\x00-\u024f\u1e00-\u1eff\u2000-\u206f\s]*$")


def _duration_text(minutes: int | None, episodes: int | None) -> str:
    """Minutes per episode in MyAnimeList's words ("24 min per ep", "1 hr 55 min")."""
    if not minutes:
        return ""
    hours, rest = divmod(minutes, 60)
    text = (f"{hours} hr {rest} min" if rest else f"{hours} hr") if hours else f"{rest} min"
    return text if episodes == 1 else f"{text} per ep"


_PLACEHOLDER_EPISODE = re.compile(r"episode\s+0*(\d+)", re.IGNORECASE)


def _episode_titles(episodes: Any) -> list[str]:
    """``{"1": {"title": {"en": …}}, …}`` -> the English titles in episode order. A list of
    placeholders only ("Episode 1", "Episode 2", … for about 2,000 anime) names nothing and is
    dropped; a real list keeps its odd placeholder, which marks where a title is missing."""
    if not isinstance(episodes, Mapping):
        return []
    numbered = []
    for key, episode in episodes.items():
        title = (episode.get("title") or {}).get("en") if isinstance(episode, Mapping) else None
        if isinstance(title, str) and title.strip() and str(key).isdigit():
            numbered.append((int(key), " ".join(title.split())))
    if all(
        (match := _PLACEHOLDER_EPISODE.fullmatch(title)) and int(match.group(1)) == number for number, title in numbered
    ):
        return []
    return [title for _, title in sorted(numbered)]


def _title_from_slug(mappings: Any) -> str:
    """A last-resort title: a few hundred records name the anime only in their Anime-Planet
    address ("dorlis-wakuwaku-nukegake-daisakusen" -> "Dorlis Wakuwaku Nukegake Daisakusen")."""
    slug = mappings.get("animeplanet") if isinstance(mappings, Mapping) else None
    if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
        return ""
    return " ".join(word.capitalize() for word in slug.split("-"))


# What anime-mapper has from AniList or Kitsu rather than from MyAnimeList: AniList's romaji and
# English titles ("TRIGUN" for MyAnimeList's "Trigun"), AniList's genres merged into MyAnimeList's,
# episode lengths rounded differently, Kitsu's short ratings, sometimes another synopsis. Its
# score (malScore), dates, status, episodes, tags and relations are first-hand and fresh.
MAPPER_SECOND_HAND = frozenset(
    {
        "title",
        "title_english",
        "title_japanese",
        "title_synonyms",
        "title_other",
        "type",
        "source",
        "rating",
        "duration",
        "studios",
        "synopsis",
        "genres",
    }
)


def record_from_mapper(
    data: Mapping[str, Any], *, source: str = "anime-mapper", priority: int = 0, fetched_at: dt.datetime | None = None
) -> AnimeRecord:
    """One record of the anime-mapper catalogue (``idMal``, ``title{romaji,english,native,
    synonyms}``, AniList-style type and status spellings, ``score{malScore}``, MAL genres and
    themes merged with AniList tags in ``genres``, ``sequence`` = related anime, ``episodes``);
    its own ``meta.lastFetched`` is its date. It has no member counts."""
    mal_id = _require_identity({"id": data.get("idMal"), "title": "-"}, "id", "title")[0]
    names = data.get("title") or {}
    if not isinstance(names, Mapping):
        raise RecordError("wrong type: title", f"expected an object, got {type(names).__name__}")
    title = _clean_text(names.get("romaji") or names.get("english"), "title") or _title_from_slug(data.get("mappings"))
    if not title:
        raise RecordError("missing title", f"MAL id {mal_id}")
    meta = data.get("meta") or {}
    fetched = _parse_iso_date(meta.get("lastFetched") if isinstance(meta, Mapping) else None, "lastFetched")
    if fetched is not None:
        fetched_at = dt.datetime(fetched.year, fetched.month, fetched.day, tzinfo=dt.UTC)
    aired = data.get("aired") or {}
    if not isinstance(aired, Mapping):
        raise RecordError("wrong type: aired", f"expected an object, got {type(aired).__name__}")
    synonyms = _clean_str_list(names.get("synonyms"), "synonyms")
    score = data.get("score") or {}
    episodes = _clean_int(data.get("episodeCount"), "episodeCount")
    images = data.get("images") or {}
    values: dict[str, Any] = {
        "title": title,
        "title_english": _clean_text(names.get("english"), "title_english"),
        "title_japanese": _clean_text(names.get("native"), "title_japanese"),
        # Synonyms in Latin script are MyAnimeList-style synonyms; the others (Korean, Thai,
        # Russian…) are titles in other languages.
        "title_synonyms": [t for t in synonyms if _LATIN.match(t)],
        "title_other": [t for t in synonyms if not _LATIN.match(t)],
        "type": _clean_text(data.get("type"), "type"),
        "source": _clean_text(data.get("source"), "source"),
        "status": _clean_text(data.get("status"), "status"),
        "episodes": episodes,
        "duration": _duration_text(_clean_int(data.get("episodeLength"), "episodeLength"), episodes),
        "aired_from": _parse_iso_date(aired.get("from"), "aired_from"),
        "aired_to": _parse_iso_date(aired.get("to"), "aired_to"),
        "season": _clean_text(data.get("season"), "season"),
        "year": _clean_int(data.get("year"), "year"),
        "rating": _clean_text(data.get("rating"), "rating"),
        "score": _clean_score(score.get("malScore") if isinstance(score, Mapping) else None),
        "studios": _clean_str_list(data.get("studios"), "studios"),
        "synopsis": _clean_text(data.get("synopsis"), "synopsis"),
        "image_url": _clean_text(images.get("poster") if isinstance(images, Mapping) else None, "image_url"),
        "episode_titles": _episode_titles(data.get("episodes")),
    }
    if values["source"].lower() == "unknown":
        values["source"] = ""
    if values["year"] is None and values["aired_from"] is not None:
        values["year"] = values["aired_from"].year
    genres: list[tuple[str, str]] = []
    tags: list[str] = []
    for name in _clean_str_list(data.get("genres"), "genres"):
        kind = genre_kind(name)
        name = " ".join(name.split())[:100]  # "Bakumatsu   Meiji Period" in the data
        if kind is not None:
            genres.append((name, kind))
        elif name not in tags:
            tags.append(name)
    relations: list[tuple[int, str]] = []
    for entry in data.get("sequence") or []:
        if not isinstance(entry, Mapping):
            raise RecordError("wrong type: sequence", "expected related-anime objects")
        related, relation = _clean_int(entry.get("malId"), "sequence"), _relation(entry.get("relationType"))
        if related and relation and (related, relation) not in relations:
            relations.append((related, relation))
    return AnimeRecord(
        mal_id=mal_id,
        fields=_finish(mal_id, values, fetched_at),
        genres=genres,
        source=source,
        fetched_at=fetched_at,
        priority=priority,
        tags=tags,
        relations=relations,
        fallback=MAPPER_SECOND_HAND,
    )


def record_from_estimate(
    data: Mapping[str, Any],
    *,
    source: str = "members-estimate",
    priority: int = 0,
    fetched_at: dt.datetime | None = None,
) -> AnimeRecord:
    """A row of ``members/estimates.csv`` (``mal_id, members, scored_by, score, as_of, source``):
    an old member count from a third-party data set, dated by ``as_of`` ("2018-05-07", "2025-01").
    It fills counts only; stored, it says it is an estimate."""
    raw_id = data.get("mal_id")
    mal_id = _clean_int(raw_id, "mal_id") if raw_id not in (None, "") else None
    if not mal_id:
        raise RecordError("missing id")
    as_of = str(data.get("as_of") or "")
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", as_of.strip())
    if not match:
        raise RecordError("wrong type: as_of", f"not a date: {as_of!r}"[:80])
    day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3) or 1))
    fetched_at = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    values = {
        "members": _clean_int(data.get("members"), "members"),
        "scored_by": _clean_int(data.get("scored_by"), "scored_by"),
        "score": _clean_score(data.get("score")),
        "members_as_of": day,
        "members_estimated": True,
    }
    return AnimeRecord(
        mal_id=mal_id,
        fields=_finish(mal_id, values, fetched_at),
        source=f"{source} {as_of.strip()}",  # one per data set: an id has one row in each
        fetched_at=fetched_at,
        priority=priority,
    )


# --------------------------------------------------------------------------- merging


_OLDEST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def record_age_key(record: AnimeRecord) -> tuple[dt.datetime, int]:
    """Newer first: by the source's date, then its priority."""
    return (record.fetched_at or _OLDEST, record.priority)


def merge_records(records: list[AnimeRecord]) -> AnimeRecord:
    """Merge records of one MAL id: the freshest record (its date, then its priority) wins where
    it has a value; older records fill the fields it lacks, a field group (a member count with
    its date) coming whole from one record; a source's second-hand fields (``fallback``) count
    only where no record has the field first-hand. Genres, tags and relations come from the
    freshest record that has any (genres first-hand first)."""
    ordered = sorted(records, key=record_age_key, reverse=True)
    grouped = {name: group for group in FIELD_GROUPS for name in group}
    merged: dict[str, Any] = {}
    for second_hand in (False, True):
        for record in ordered:
            for name, value in record.fields.items():
                if (name in record.fallback) != second_hand:
                    continue
                group = grouped.get(name)
                if group is None:
                    merged.setdefault(name, value)
                elif group[0] in record.fields and group[0] not in merged:
                    merged.update({member: record.fields[member] for member in group if member in record.fields})
    firsthand = [r for r in ordered if "genres" not in r.fallback]
    genres = next((r.genres for r in [*firsthand, *ordered] if r.genres), [])
    tags = next((r.tags for r in ordered if r.tags), [])
    relations = next((r.relations for r in ordered if r.relations is not None), None)
    sources = []
    for record in ordered:
        if record.source and record.source not in sources:
            sources.append(record.source)
    dates = [r.fetched_at for r in ordered if r.fetched_at]
    return AnimeRecord(
        mal_id=ordered[0].mal_id,
        fields=merged,
        genres=list(genres),
        source="+".join(sources),
        fetched_at=max(dates) if dates else None,
        priority=ordered[0].priority,
        tags=list(tags),
        relations=list(relations) if relations is not None else None,
    )


# --------------------------------------------------------------------------- MyAnimeList pages

MAL_GENRE_KEYS = {
    "genres": GENRE,
    "explicit_genres": GENRE,
    "themes": THEME,
    "demographics": DEMOGRAPHIC,
}
_MAL_PLACEHOLDERS = (
    "No synopsis information has been added",
    "No background information has been added",
    "No synopsis has been added",
)


def _mal_text(value: Any, name: str) -> str:
    text = _clean_text(value, name)
    # MyAnimeList shows a placeholder where Jikan serves null: both mean "none".
    return "" if any(text.startswith(p) for p in _MAL_PLACEHOLDERS) else text


def _mal_number(value: Any, name: str) -> int | None:
    """ "#394", "822,213", "26", "Unknown", "N/A" -> a whole number or unknown."""
    if isinstance(value, str):
        value = value.strip().lstrip("#")
        if value.lower() in ("unknown", "n/a", "none", "-"):
            return None
    return _clean_int(value, name)


def _mal_large_image(url: str) -> str:
    # The page shows the normal cover; Jikan's large_image_url (what record_from_jikan stores)
    # is the same path with an "l" before the extension.
    match = re.fullmatch(r"(.+/images/anime/\d+/\d+)(\.\w+)(\?.*)?", url)
    return f"{match.group(1)}l{match.group(2)}" if match else url


def record_from_mal(
    data: Mapping[str, Any], *, source: str = "mal", priority: int = 0, fetched_at: dt.datetime | None = None
) -> AnimeRecord:
    """A MyAnimeList anime page as the ``mal`` spider reads it: the display strings of the
    page (``"#394"``, ``"822,213"``, ``"Apr 1, 1998 to Sep 30, 1998"``, ``"Spring 1998"``).
    Normalised to exactly what ``record_from_jikan`` stores for the same anime, since Jikan is
    a parser of these same pages (durations without dots, the large cover, season + year from
    "Premiered")."""
    mal_id, title = _require_identity(data, "mal_id", "title")
    aired_text = data.get("aired")
    if aired_text is not None and not isinstance(aired_text, str):
        raise RecordError("wrong type: aired", f"expected text, got {type(aired_text).__name__}")
    aired_from, aired_to, aired_year = parse_aired_text(aired_text or "")
    season, year = "", None
    premiered = _clean_text(data.get("premiered"), "premiered")
    match = re.fullmatch(r"(winter|spring|summer|fall)\s+(\d{4})", premiered, re.IGNORECASE)
    if match:
        season, year = match.group(1).lower(), int(match.group(2))
    duration = _clean_text(data.get("duration"), "duration")
    if duration.lower() == "unknown":
        duration = ""
    values: dict[str, Any] = {
        "title": title,
        "title_english": _clean_text(data.get("title_english"), "title_english"),
        "title_japanese": _clean_text(data.get("title_japanese"), "title_japanese"),
        "title_synonyms": _clean_str_list(data.get("title_synonyms"), "title_synonyms"),
        "type": _clean_text(data.get("type"), "type"),
        "episodes": _mal_number(data.get("episodes"), "episodes"),
        "status": _clean_text(data.get("status"), "status"),
        "aired_from": aired_from,
        "aired_to": aired_to,
        "year": year or aired_year,
        "season": season,
        "source": _clean_text(data.get("source"), "source"),
        "rating": _clean_text(data.get("rating"), "rating"),
        "duration": duration.replace(".", ""),
        "studios": _clean_str_list(data.get("studios"), "studios"),
        "score": _clean_score(data.get("score")),
        "scored_by": _mal_number(data.get("scored_by"), "scored_by"),
        "rank": _mal_number(data.get("rank"), "rank"),
        "popularity": _mal_number(data.get("popularity"), "popularity"),
        "members": _mal_number(data.get("members"), "members"),
        "favorites": _mal_number(data.get("favorites"), "favorites"),
        "synopsis": _mal_text(data.get("synopsis"), "synopsis"),
        "background": _mal_text(data.get("background"), "background"),
        "image_url": _mal_large_image(_clean_text(data.get("image_url"), "image_url")),
        "mal_url": _clean_text(data.get("url"), "url"),
    }
    return AnimeRecord(
        mal_id=mal_id,
        fields=_finish(mal_id, values, fetched_at),
        genres=_genres_from_lists(data, MAL_GENRE_KEYS),
        source=source,
        fetched_at=fetched_at,
        priority=priority,
    )
