from __future__ import annotations

from django.urls import path

from compat import api

app_name = "compat"

urlpatterns = [
    path("status", api.StatusView.as_view(), name="status"),
    path("anime/search", api.SearchView.as_view(), name="search"),
    path("anime/evaluate", api.EvaluateView.as_view(), name="evaluate"),
    path("anime/genres", api.GenresView.as_view(), name="genres"),
]
