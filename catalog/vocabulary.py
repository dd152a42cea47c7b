"""MyAnimeList's genre vocabulary: which names are genres, themes or demographics.

The seed export mixes all three kinds in one comma-separated string; Jikan keeps them apart.
This table is how the importer splits the seed's list. Names follow MyAnimeList since its 2022
taxonomy; a handful of pre-2022 names map onto their current kind.
"""

from __future__ import annotations

GENRE = "genre"
THEME = "theme"
DEMOGRAPHIC = "demographic"

GENRES = (
    "Action", "Adventure", "Avant Garde", "Award Winning", "Boys Love", "Comedy", "Drama",
    "Ecchi", "Erotica", "Fantasy", "Girls Love", "Gourmet", "Hentai", "Horror", "Mystery",
    "Romance", "Sci-Fi", "Slice of Life", "Sports", "Supernatural", "Suspense",
)  # fmt: skip
THEMES = (
    "Adult Cast", "Anthropomorphic", "CGDCT", "Childcare", "Combat Sports", "Crossdressing",
    "Delinquents", "Detective", "Educational", "Gag Humor", "Gore", "Harem", "High Stakes Game",
    "Historical", "Idols (Female)", "Idols (Male)", "Isekai", "Iyashikei", "Love Polygon",
    "Love Status Quo", "Magical Sex Shift", "Mahou Shoujo", "Martial Arts", "Mecha", "Medical",
    "Military", "Music", "Mythology", "Organized Crime", "Otaku Culture", "Parody",
    "Performing Arts", "Pets", "Psychological", "Racing", "Reincarnation", "Reverse Harem",
    "Romantic Subtext", "Samurai", "School", "Showbiz", "Space", "Strategy Game", "Super Power",
    "Survival", "Team Sports", "Time Travel", "Urban Fantasy", "Vampire", "Video Game",
    "Villainess", "Visual Arts", "Workplace",
)  # fmt: skip
DEMOGRAPHICS = ("Josei", "Kids", "Seinen", "Shoujo", "Shounen")

KIND_BY_NAME: dict[str, str] = {
    **{name: GENRE for name in GENRES},
    **{name: THEME for name in THEMES},
    **{name: DEMOGRAPHIC for name in DEMOGRAPHICS},
}


def genre_kind(name: str) -> str | None:
    """The kind of a MyAnimeList genre name, or None when the name is not in the vocabulary."""
    return KIND_BY_NAME.get(name)


# --------------------------------------------------------------------------- types and statuses

# The catalogue's one spelling of each type. Sources spell them differently (MyAnimeList
# "Movie", AniList "MOVIE", MyAnimeList's newer "TV Special" for what it long called "Special",
# AniList's "TV_SHORT" for a TV series of short episodes): ``anime_type`` maps each to one.
ANIME_TYPES = ("TV", "Movie", "OVA", "ONA", "Special", "Music", "CM", "PV")
_TYPE_SPELLINGS = {
    **{name.lower(): name for name in ANIME_TYPES},
    "tv special": "Special",
    "tv_special": "Special",
    "tv_short": "TV",
    "tv short": "TV",
    "unknown": "",
}
# Kept out of the catalogue unless a setting brings them in (CATALOG_INCLUDE).
MUSIC_TYPES = {"music": ("Music",), "cm": ("CM",), "pv": ("PV",)}

FINISHED, AIRING, UPCOMING = "Finished Airing", "Currently Airing", "Not yet aired"
_STATUS_SPELLINGS = {
    "finished airing": FINISHED,
    "finished": FINISHED,
    "currently airing": AIRING,
    "airing": AIRING,
    "releasing": AIRING,
    "not yet aired": UPCOMING,
    "not_yet_released": UPCOMING,
    "not yet released": UPCOMING,
}


def anime_type(value: str) -> str | None:
    """The catalogue's spelling of a source's type ("" for unknown), or None for one it does not
    know (the record keeps no type then)."""
    return _TYPE_SPELLINGS.get(value.strip().lower()) if value.strip() else ""


def anime_status(value: str) -> str:
    """MyAnimeList's wording of an airing status ("" when unknown: a cancelled or paused show)."""
    return _STATUS_SPELLINGS.get(value.strip().lower(), "")
