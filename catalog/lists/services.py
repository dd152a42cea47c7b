"""Writes of imported lists: import (replacing the list), clear, and adopting a visitor's list
into the account they sign in to. A list that fails to parse changes nothing."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.lists.parsing import ParsedEntry, ParsedList, list_upload_parse
from catalog.lists.selectors import SESSION_KEY, UserList, list_for_request, list_forget
from catalog.models import Anime, AnimeList, AnimeListEntry


def _store_account(user: Any, parsed: ParsedList) -> None:
    ids = [e.mal_id for e in parsed.entries]
    unmatched = len(ids) - Anime.objects.filter(mal_id__in=ids).count()
    with transaction.atomic():
        AnimeList.objects.filter(owner=user).delete()
        stored = AnimeList.objects.create(
            owner=user,
            mal_user_name=parsed.user_name,
            imported_at=timezone.now(),
            entry_count=len(parsed.entries),
            unmatched_count=unmatched,
        )
        AnimeListEntry.objects.bulk_create(
            [
                AnimeListEntry(
                    anime_list=stored,
                    mal_id=e.mal_id,
                    title=e.title,
                    status=e.status,
                    score=e.score,
                    watched_episodes=e.watched_episodes,
                )
                for e in parsed.entries
            ],
            batch_size=1000,
        )


def _store_session(session: Any, parsed: ParsedList) -> None:
    session[SESSION_KEY] = {
        "user_name": parsed.user_name,
        "imported_at": timezone.now().isoformat(),
        "entries": [[e.mal_id, e.status, e.score, e.title, e.watched_episodes] for e in parsed.entries],
    }


def list_import(*, request: Any, data: bytes) -> UserList:
    """Parse an export and make it the list of whoever sends it (account or session), replacing
    the one before. Raises ``ListFileError`` before anything is stored."""
    parsed = list_upload_parse(data)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        _store_account(user, parsed)
    else:
        _store_session(request.session, parsed)
    list_forget(request)
    found = list_for_request(request)
    assert found is not None
    return found


def list_clear(*, request: Any) -> None:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        AnimeList.objects.filter(owner=user).delete()
    session = getattr(getattr(request, "_request", request), "session", None)
    if session is not None:
        session.pop(SESSION_KEY, None)
    list_forget(request)


def list_adopt_session(*, request: Any, user: Any) -> bool:
    """After sign-in: a list imported while signed out becomes the account's (replacing the
    account's). Returns whether there was one."""
    data = request.session.get(SESSION_KEY)
    if not data:
        return False
    entries = data.get("entries", [])
    parsed = ParsedList(
        user_name=data.get("user_name", ""),
        entries=[ParsedEntry(int(m), t, s, int(sc), int(w)) for m, s, sc, t, w in entries],
        skipped=0,
    )
    _store_account(user, parsed)
    request.session.pop(SESSION_KEY, None)
    list_forget(request)
    return True
