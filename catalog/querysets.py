from __future__ import annotations

from django.db import models
from django.db.models import Q


class AnimeQuerySet(models.QuerySet):
    def scored(self) -> AnimeQuerySet:
        return self.filter(score__isnull=False)

    def with_tier(self, *tiers: str) -> AnimeQuerySet:
        return self.filter(tier__in=tiers)

    def with_genres(self) -> AnimeQuerySet:
        return self.prefetch_related("genres")

    def in_franchise(self, key: str) -> AnimeQuerySet:
        return self.filter(franchise_key=key)

    def with_all_genres(self, names: list[str]) -> AnimeQuerySet:
        qs = self
        for name in names:
            qs = qs.filter(genres__name__iexact=name)
        return qs

    def without_genres(self, names: list[str]) -> AnimeQuerySet:
        if not names:
            return self
        query = Q()
        for name in names:
            query |= Q(genres__name__iexact=name)
        return self.exclude(mal_id__in=self.model.objects.filter(query).values("mal_id"))

    def title_search(self, text: str) -> AnimeQuerySet:
        """Case-insensitive containment over every title and synonym."""
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(title__icontains=text)
            | Q(title_english__icontains=text)
            | Q(title_japanese__icontains=text)
            | Q(title_synonyms__icontains=text)
        )
