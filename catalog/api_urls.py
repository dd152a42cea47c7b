from __future__ import annotations

from django.urls import path

from catalog import api

urlpatterns = [
    path("anime/", api.AnimeListView.as_view(), name="api-anime-list"),
    path("anime/<int:mal_id>/", api.AnimeDetailView.as_view(), name="api-anime-detail"),
    path("genres/", api.GenreListView.as_view(), name="api-genre-list"),
]
