from __future__ import annotations

from django.urls import include, path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    # login/, logout/ (POST), password_change/, password_reset/ …: Django's own views.
    path("", include("django.contrib.auth.urls")),
]
