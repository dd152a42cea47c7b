from __future__ import annotations

from django.urls import path

from catalog import views
from catalog.lists import views as list_views
from catalog.search import views as search_views

app_name = "catalog"
urlpatterns = [
    path("", views.home, name="home"),
    path("anime/", views.anime_list, name="anime-list"),
    path("anime/<mal_id:mal_id>/", views.anime_detail, name="anime-detail"),
    path("search/", search_views.search_page, name="search"),
    path("my-list/", list_views.my_list, name="my-list"),
    path("my-list/clear/", list_views.my_list_clear, name="my-list-clear"),
    path("my-list/pending/", list_views.my_list_pending, name="my-list-pending"),
    path("for-you/", list_views.for_you, name="for-you"),
]
