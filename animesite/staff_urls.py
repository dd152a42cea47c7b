from __future__ import annotations

from django.urls import path

from animesite import staff_api

urlpatterns = [
    path("reindex/", staff_api.ReindexView.as_view(), name="staff-reindex"),
    path("retrain/", staff_api.RetrainView.as_view(), name="staff-retrain"),
    path("crawl/", staff_api.CrawlView.as_view(), name="staff-crawl"),
]
