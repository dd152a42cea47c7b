from __future__ import annotations

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import register_converter

        from catalog.converters import MalIdConverter

        register_converter(MalIdConverter, "mal_id")

        import catalog.lists.signals  # noqa: F401  (connects the sign-in receiver)
