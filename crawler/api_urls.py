from __future__ import annotations

from django.urls import path

from crawler import api

urlpatterns = [
    path("admin/crawl/", api.CrawlView.as_view(), name="staff-crawl"),
]
