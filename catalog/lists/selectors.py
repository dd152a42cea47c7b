"""Reads of a visitor's imported list: from the account when signed in, else the signed-out
visitor's list that their session points to (by id: the list itself lives in the table, so the
session row stays small).

``list_for_request`` is cached on the request, so the filter, the cards' badges and the
recommendations of one page read it once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from catalog.models import Anime, AnimeList, ListStatus

# The session holds the id of a signed-out visitor's list (an ``AnimeList`` without owner).
SESSION_KEY = "anime_list_id"
LIST_MODES = ("hide", "unseen", "plan-to-watch")
SEEN = frozenset({ListStatus.WATCHING, ListStatus.COMPLETED, ListStatus.ON_HOLD, ListStatus.DROPPED})
_CACHE = "_anime_list_cache"


@dataclass(frozen=True)
class Entry:
    status: str
    score: int
    title: str = ""
    watched_episodes: int = 0

    @property
    def status_label(self) -> str:
        return ListStatus(self.status).label


@dataclass
class UserList:
    entries: dict[int, Entry]
    user_name: str = ""
    imported_at: str = ""
    stored_in: str = "session"  # "account" or "session"
    expires_at: datetime | None = None  # a signed-out visitor's list: when it is deleted
    _matched: set[int] | None = field(default=None, repr=False)
    _completed: dict[str, tuple[str, int]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, mal_id: int) -> Entry | None:
        return self.entries.get(mal_id)

    def ids_for(self, mode: str) -> tuple[frozenset[int], frozenset[int] | None]:
        """(ids to hide, ids to keep only, or None) for a ``list`` filter mode."""
        if mode == "hide":
            return frozenset(self.entries), None
        if mode == "unseen":
            return frozenset(m for m, e in self.entries.items() if e.status in SEEN), None
        if mode == "plan-to-watch":
            return frozenset(), frozenset(m for m, e in self.entries.items() if e.status == ListStatus.PLAN_TO_WATCH)
        return frozenset(), None

    @property
    def matched(self) -> set[int]:
        """The entries whose anime is in the catalogue."""
        if self._matched is None:
            self._matched = set(Anime.objects.filter(mal_id__in=list(self.entries)).values_list("mal_id", flat=True))
        return self._matched

    def completed_in_franchise(self) -> dict[str, tuple[str, int]]:
        """Franchise key -> (title, year) of the latest anime of it the user completed."""
        if self._completed is None:
            done = [m for m, e in self.entries.items() if e.status == ListStatus.COMPLETED]
            rows = Anime.objects.filter(mal_id__in=done).exclude(franchise_key="").order_by("year", "mal_id")
            self._completed = {
                key: (title, year or 0) for key, title, year in rows.values_list("franchise_key", "title", "year")
            }
        return self._completed

    def badge(self, anime: Anime) -> dict[str, Any] | None:
        """What a card shows for ``anime``: its entry (status, the user's score), or that the user
        completed an earlier anime of its franchise."""
        entry = self.entries.get(anime.mal_id)
        if entry is not None:
            return {"kind": "entry", "status": entry.status, "label": entry.status_label, "score": entry.score}
        completed = self.completed_in_franchise().get(anime.franchise_key) if anime.franchise_key else None
        if completed is not None:
            title, year = completed
            relation = "Sequel of" if anime.year and year and anime.year > year else "Same franchise as"
            return {"kind": "franchise", "status": "", "label": f"{relation} {title} (completed)", "score": 0}
        return None

    def summary(self) -> dict[str, Any]:
        counts = Counter(e.status for e in self.entries.values())
        unmatched = [(m, e.title) for m, e in self.entries.items() if m not in self.matched]
        scored = [e.score for e in self.entries.values() if e.score]
        return {
            "user_name": self.user_name,
            "imported_at": self.imported_at,
            "stored_in": self.stored_in,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "entries": len(self.entries),
            "in_catalogue": len(self.entries) - len(unmatched),
            "not_in_catalogue": len(unmatched),
            "not_in_catalogue_examples": [title or f"MAL id {m}" for m, title in sorted(unmatched)[:10]],
            "by_status": {s.value: counts.get(s.value, 0) for s in ListStatus},
            "scored": len(scored),
            "mean_score": round(sum(scored) / len(scored), 2) if scored else None,
        }


def _loaded(stored: AnimeList | None) -> UserList | None:
    if stored is None:
        return None
    rows = stored.entries.values_list("mal_id", "status", "score", "title", "watched_episodes")
    return UserList(
        entries={m: Entry(s, sc, t, w) for m, s, sc, t, w in rows},
        user_name=stored.mal_user_name,
        imported_at=stored.imported_at.isoformat(),
        stored_in="account" if stored.owner_id else "session",
        expires_at=stored.expires_at,
    )


def session_list_stored(session: Any) -> AnimeList | None:
    """The signed-out visitor's list the session points to, unless it has expired."""
    list_id = session.get(SESSION_KEY) if session is not None else None
    if not isinstance(list_id, int):
        return None
    return AnimeList.objects.anonymous().filter(pk=list_id, expires_at__gt=timezone.now()).first()


def list_pending_for_request(request: Any) -> UserList | None:
    """For a signed-in visitor: the list they imported while signed out and have not yet chosen
    to keep (their account already had one when they signed in), else None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return _loaded(session_list_stored(getattr(getattr(request, "_request", request), "session", None)))


def list_for_request(request: Any) -> UserList | None:
    """The list of whoever makes ``request`` (None when they have imported none)."""
    if request is None:
        return None
    django_request = getattr(request, "_request", request)  # a DRF request wraps Django's
    cached = getattr(django_request, _CACHE, False)
    if cached is not False:
        return cached
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        found = _loaded(AnimeList.objects.filter(owner=user).first())
    else:
        found = _loaded(session_list_stored(getattr(django_request, "session", None)))
    setattr(django_request, _CACHE, found)
    return found


def list_filter_ids(request: Any, mode: str) -> tuple[frozenset[int], frozenset[int] | None]:
    """(ids to hide, ids to keep only, or None) of the ``list`` filter ``mode`` for whoever makes
    ``request``; without a list nothing is hidden and "plan-to-watch" keeps nothing."""
    if not mode:
        return frozenset(), None
    user_list = list_for_request(request)
    if user_list is None:
        return frozenset(), (frozenset() if mode == "plan-to-watch" else None)
    return user_list.ids_for(mode)


def list_forget(request: Any) -> None:
    """Drop the request's cached list (after an import or a clear)."""
    django_request = getattr(request, "_request", request)
    if hasattr(django_request, _CACHE):
        delattr(django_request, _CACHE)
