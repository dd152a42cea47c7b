"""One throttle for every way in: the site's and the admin's sign-in, sign-up and password reset.

Counted in the shared cache (``animesite.throttling``), per client address and per user name (or
e-mail), so guessing a password is slow whichever door is tried and however many workers serve:
- sign-in (both pages): failed attempts only, so people who sign in successfully never use up
  their address's budget (a school or office behind one address);
- sign-up and password reset: every attempt (each one creates an account or sends a mail).
Past either limit the door answers 429 with a page saying when to try again, before the password
is even checked, so the answer takes the same time for a right and a wrong password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from animesite.throttling import client_address, rate_parse, too_many_requests, window_count, window_hit


@dataclass(frozen=True)
class Door:
    name_field: str  # the form field naming the account
    counts_success: bool  # False: only failed attempts count (sign-in)


@cache
def doors() -> dict[str, Door]:
    return {
        reverse("admin:login"): Door("username", counts_success=False),
        reverse("login"): Door("username", counts_success=False),
        reverse("signup"): Door("username", counts_success=True),
        reverse("password_reset"): Door("email", counts_success=True),
    }


def _keys(request: HttpRequest, door: Door) -> list[tuple[str, str]]:
    """(cache key, rate) for the address and, when given, the account name."""
    keys = [(f"auth-throttle:ip:{client_address(request)}", settings.AUTH_THROTTLE_IP_RATE)]
    name = request.POST.get(door.name_field, "").strip().lower()
    if name:
        digest = hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:32]
        keys.append((f"auth-throttle:name:{digest}", settings.AUTH_THROTTLE_NAME_RATE))
    return keys


def _blocked(keys: list[tuple[str, str]]) -> float | None:
    """Seconds to wait when a limit is already used up, else None."""
    for key, rate in keys:
        limit, duration = rate_parse(rate)
        count, wait = window_count(key, duration)
        if count >= limit:
            return wait
    return None


def _count(keys: list[tuple[str, str]]) -> None:
    for key, rate in keys:
        limit, duration = rate_parse(rate)
        window_hit(key, limit, duration)


def _succeeded(response: HttpResponse) -> bool:
    # Django's login views redirect on success and show the form again (200) on failure.
    return response.status_code in (301, 302, 303)


class AuthThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        door = doors().get(request.path) if request.method == "POST" else None
        if door is None or not settings.AUTH_THROTTLE_IP_RATE:
            return self.get_response(request)
        keys = _keys(request, door)
        wait = _blocked(keys)
        if wait is not None:
            return too_many_requests(request, wait, "Too many attempts to sign in, sign up or reset a password.")
        response = self.get_response(request)
        if door.counts_success or not _succeeded(response):
            _count(keys)
        return response
