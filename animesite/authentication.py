"""The API's session authentication: a write that carries the site's session cookie must carry
the CSRF token too, signed in or not.

DRF checks CSRF only for a signed-in user; a signed-out visitor's session also holds state (an
imported list), so another site's form or ``fetch`` riding on that cookie could replace or clear
it. Calls without the cookie (scripts, token clients) are not affected: they have no session to
forge, and the API never starts one for them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request


class SessionAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)  # enforces CSRF when a user is signed in
        if result is None and request.method not in SAFE_METHODS and has_session_cookie(request):
            self.enforce_csrf(request)
        return result


def has_session_cookie(request: Any) -> bool:
    return bool(getattr(request, "COOKIES", {}).get(settings.SESSION_COOKIE_NAME))


class SessionAuthenticationScheme(SessionScheme):
    """The OpenAPI schema documents it as DRF's session cookie (drf-spectacular extension)."""

    target_class = "animesite.authentication.SessionAuthentication"
