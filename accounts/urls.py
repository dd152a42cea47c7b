from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

# Django's own auth views (sign-in, sign-out, password change); password reset only when the site
# can send mail (``settings.PASSWORD_RESET_ENABLED``), else a page that says so.
urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", views.password_reset_gate(auth_views.PasswordResetView), name="password_reset"),
    path(
        "password_reset/done/",
        views.password_reset_gate(auth_views.PasswordResetDoneView),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        views.password_reset_gate(auth_views.PasswordResetConfirmView),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        views.password_reset_gate(auth_views.PasswordResetCompleteView),
        name="password_reset_complete",
    ),
]
