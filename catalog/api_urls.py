from __future__ import annotations

from django.urls import path

from catalog import api
from catalog.lists import api as list_api
from catalog.search import api as search_api

urlpatterns = [
    path("anime/", api.AnimeListView.as_view(), name="api-anime-list"),
    path("anime/<mal_id:mal_id>/", api.AnimeDetailView.as_view(), name="api-anime-detail"),
    path("genres/", api.GenreListView.as_view(), name="api-genre-list"),
    path("tags/", api.TagListView.as_view(), name="api-tag-list"),
    path("search/", search_api.SearchView.as_view(), name="api-search"),
    path("admin/reindex/", search_api.ReindexView.as_view(), name="staff-reindex"),
    path("anime/<mal_id:mal_id>/similar/", search_api.SimilarView.as_view(), name="api-anime-similar"),
    path("list/", list_api.ListView.as_view(), name="api-list"),
    path("recommendations/", list_api.RecommendationsView.as_view(), name="api-recommendations"),
]
