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
