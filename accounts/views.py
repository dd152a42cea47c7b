"""Sign-up, and the small additions to Django's own auth views (see ``accounts.urls``): the sign-in
page offers password reset only where the site can send mail, and password reset answers "not
available here" otherwise. An account keeps an imported list: a list imported before signing up
or in moves into it, or the person chooses which to keep (``catalog.lists.signals``). Every way in
is throttled (``accounts.throttle``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django.views.generic import View


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("catalog:my-list")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        target = request.POST.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(target if target and safe else "catalog:my-list")
    return render(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", "")})


class SignInView(LoginView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "password_reset_enabled": settings.PASSWORD_RESET_ENABLED}


def password_reset_gate(view_class: type[View]) -> Callable[..., HttpResponse]:
    """Django's password-reset view, or (no mail backend) a page saying reset by mail is not
    offered here: a form that claims to have sent a mail nobody can send would mislead."""
    view = view_class.as_view()

    def gated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.PASSWORD_RESET_ENABLED:
            return view(request, *args, **kwargs)
        return render(request, "registration/password_reset_unavailable.html", status=404)

    return gated
