from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from animesite import health
from catalog.api import ApiDocsView

# JSON 400s under /api/ when Django refuses a request before any view runs (see animesite/errors.py).
handler400 = "animesite.errors.bad_request"
handler404 = "animesite.errors.not_found"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("compat/", include("compat.urls")),
    path("api/", include("catalog.api_urls")),
    path("api/", include("evaluator.api_urls")),
    path("api/", include("crawler.api_urls")),
    path("", include("catalog.urls")),
    path("", include("evaluator.urls")),
]
