"""Writes of imported lists: import (replacing the list), clear, what happens to a signed-out
visitor's list when they sign in, and the clean-up of expired ones. A list that fails to parse
changes nothing.

A signed-out visitor's list is a row like an account's, without owner, that their session points
to and that expires with the session (``SESSION_COOKIE_AGE`` after the import); beat deletes the
expired ones (``anime_lists_expire``). On sign-in it becomes the account's only when the account
has none: an account's list is never replaced without its owner choosing so on /my-list/.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from catalog.lists.parsing import ParsedList, list_upload_parse
from catalog.lists.selectors import SESSION_KEY, UserList, list_for_request, list_forget, session_list_stored
from catalog.models import Anime, AnimeList, AnimeListEntry


class NoSession(Exception):
    """A signed-out caller without a session: there is nowhere to keep a list (the API never
    starts a session)."""


def _store(parsed: ParsedList, *, owner: Any = None, expires_at: datetime | None = None) -> AnimeList:
    ids = [e.mal_id for e in parsed.entries]
    unmatched = len(ids) - Anime.objects.filter(mal_id__in=ids).count()
    stored = AnimeList.objects.create(
        owner=owner,
        expires_at=expires_at,
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
    return stored


def _session(request: Any) -> Any:
    return getattr(getattr(request, "_request", request), "session", None)


def _signed_in(request: Any) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


def list_import(*, request: Any, data: bytes, start_session: bool = True) -> UserList:
    """Parse an export and make it the list of whoever sends it (account, or the signed-out
    visitor's session), replacing the one before. Raises ``ListFileError`` before anything is
    stored, and ``NoSession`` for a signed-out caller without a session when ``start_session`` is
    off (the API)."""
    session = _session(request)
    signed_in = _signed_in(request)
    if not signed_in and (session is None or (not start_session and session.session_key is None)):
        raise NoSession
    parsed = list_upload_parse(data)
    if signed_in:
        with transaction.atomic():
            AnimeList.objects.filter(owner=request.user).delete()
            _store(parsed, owner=request.user)
    else:
        with transaction.atomic():
            previous = session_list_stored(session)
            if previous is not None:
                previous.delete()
            stored = _store(parsed, expires_at=timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
        session[SESSION_KEY] = stored.pk
    list_forget(request)
    found = list_for_request(request)
    assert found is not None
    return found


def list_clear(*, request: Any) -> None:
    """Clear the visitor's list: the account's when signed in, else the session's."""
    if _signed_in(request):
        AnimeList.objects.filter(owner=request.user).delete()
    else:
        _session_list_drop(_session(request))
    list_forget(request)


def _session_list_drop(session: Any) -> None:
    if session is None:
        return
    stored = session_list_stored(session)
    if stored is not None:
        stored.delete()
    session.pop(SESSION_KEY, None)


def list_adopt_session(*, request: Any, user: Any) -> bool:
    """After sign-in (or sign-up): a list imported while signed out becomes the account's when the
    account has none. When it has one, both are kept and /my-list/ asks which to keep
    (``list_pending_resolve``). Returns whether the session's list moved into the account."""
    session = _session(request)
    with transaction.atomic():
        stored = session_list_stored(session)
        if stored is None or AnimeList.objects.filter(owner=user).exists():
            return False
        AnimeList.objects.filter(pk=stored.pk, owner__isnull=True).update(owner=user, expires_at=None)
    session.pop(SESSION_KEY, None)
    list_forget(request)
    return True


def list_pending_resolve(*, request: Any, keep: str) -> None:
    """A signed-in visitor's choice between their account's list and the one they imported while
    signed out: ``keep="imported"`` replaces the account's with it, ``keep="account"`` discards it."""
    if keep not in ("imported", "account"):
        raise ValueError(f"keep must be 'imported' or 'account', not {keep!r}")
    session = _session(request)
    with transaction.atomic():
        stored = session_list_stored(session)
        if stored is not None and keep == "imported":
            AnimeList.objects.filter(owner=request.user).delete()
            AnimeList.objects.filter(pk=stored.pk, owner__isnull=True).update(owner=request.user, expires_at=None)
        elif stored is not None:
            stored.delete()
    session.pop(SESSION_KEY, None)
    list_forget(request)


def anime_lists_expire(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete signed-out visitors' lists past their expiry and the expired sessions that pointed
    to them (beat, daily). Returns (lists, sessions) deleted."""
    now = now or timezone.now()
    _, lists = AnimeList.objects.expired(now).delete()
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    return lists.get(AnimeList._meta.label, 0), sessions
