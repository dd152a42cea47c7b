from __future__ import annotations

from django.urls import path

from catalog import api

urlpatterns = [
    path("anime/", api.AnimeListView.as_view(), name="api-anime-list"),
    # str, not int: a malformed id gets the API's JSON 404, not Django's HTML one.
    path("anime/<str:mal_id>/", api.AnimeDetailView.as_view(), name="api-anime-detail"),
    path("genres/", api.GenreListView.as_view(), name="api-genre-list"),
]
