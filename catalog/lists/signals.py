"""A list imported while signed out moves into the account on sign-in (or sign-up)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from catalog.lists.services import list_adopt_session


@receiver(user_logged_in, dispatch_uid="catalog.lists.adopt_session_list")
def adopt_session_list(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        list_adopt_session(request=request, user=user)
