from __future__ import annotations

import re

from django.db import connection, models
from django.db.models import Case, F, IntegerField, Q, Value, When

# Words too common to rank by in the keyword fallback (Postgres' english config drops its own).
_STOPWORDS = frozenset(
    "a an and are as at be by for from has he her his in is it its of on or she that the their they "
    "this to was were who with which will would what when where how into out up about".split()
)
_KEYWORD = re.compile(r"\w+")
KEYWORD_MAX_TERMS = 16


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
            | Q(title_other__icontains=text)
        )

    def keyword_search(self, text: str) -> AnimeQuerySet:
        """The database's own keyword search (the fallback when the search index is down):
        anime matching any word of ``text``, best first (``keyword_rank`` descending, then
        members). On Postgres: full-text search, titles weighted A, synonyms B, synopsis C;
        elsewhere a weighted count of the words found in titles (3) and synopsis (1)."""
        terms = [t for t in dict.fromkeys(_KEYWORD.findall(text.lower())) if t not in _STOPWORDS]
        terms = terms[:KEYWORD_MAX_TERMS]
        if not terms:
            return self.none()
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

            vector = (
                SearchVector("title", "title_english", weight="A", config="english")
                + SearchVector("title_synonyms", "title_other", weight="B", config="english")
                + SearchVector("synopsis", weight="C", config="english")
            )
            query = SearchQuery(terms[0], config="english")
            for term in terms[1:]:
                query |= SearchQuery(term, config="english")
            return (
                self.annotate(keyword_rank=SearchRank(vector, query))
                .filter(keyword_rank__gt=0)
                .order_by("-keyword_rank", F("members").desc(nulls_last=True), "mal_id")
            )
        rank = Value(0, output_field=IntegerField())
        for term in terms:
            in_title = (
                Q(title__icontains=term)
                | Q(title_english__icontains=term)
                | Q(title_synonyms__icontains=term)
                | Q(title_other__icontains=term)
            )
            rank = rank + Case(When(in_title, then=Value(3)), default=Value(0), output_field=IntegerField())
            rank = rank + Case(
                When(synopsis__icontains=term, then=Value(1)), default=Value(0), output_field=IntegerField()
            )
        return (
            self.annotate(keyword_rank=rank)
            .filter(keyword_rank__gt=0)
            .order_by("-keyword_rank", F("members").desc(nulls_last=True), "mal_id")
        )
