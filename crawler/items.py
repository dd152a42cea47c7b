"""Plain items the spiders yield. Converting them into catalogue records happens in one place,
``catalog.records`` (``record_from_jikan`` / ``record_from_mal``), called by the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class JikanAnimeItem:
    """One Jikan v4 anime object exactly as served (``/anime/{id}/full``, or a list entry)."""

    data: dict[str, Any]
    url: str = ""


@dataclass
class JikanListPage:
    """The anime objects of one Jikan list page, exactly as served, minus those the spider left
    out (under the threshold, fetched recently, past --limit). One item per page: the pipeline
    stores a page in one go, then asks for the relations of the anime that need them."""

    entries: list[dict[str, Any]]
    url: str = ""


@dataclass
class JikanRelationsItem:
    """``/anime/{id}/relations``: the relation groups of one anime (``[{"relation", "entry"}]``)."""

    mal_id: int
    groups: Any
    url: str = ""


@dataclass
class MalAnimeItem:
    """One MyAnimeList anime page, as the page displays it (strings such as ``"#394"`` or
    ``"Apr 1, 1998 to Sep 30, 1998"``); a field the page lacks stays empty."""

    url: str = ""
    mal_id: int | None = None
    title: str = ""
    title_english: str = ""
    title_japanese: str = ""
    title_synonyms: list[str] = field(default_factory=list)
    type: str = ""
    episodes: str = ""
    status: str = ""
    aired: str = ""
    premiered: str = ""
    studios: list[str] = field(default_factory=list)
    source: str = ""
    genres: list[str] = field(default_factory=list)
    explicit_genres: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    demographics: list[str] = field(default_factory=list)
    duration: str = ""
    rating: str = ""
    score: str = ""
    scored_by: str = ""
    rank: str = ""
    popularity: str = ""
    members: str = ""
    favorites: str = ""
    synopsis: str = ""
    background: str = ""
    image_url: str = ""
