from __future__ import annotations

import re

from django.db import connection, models
from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.db.models.functions import Lower

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

    def reliably_rated(self) -> AnimeQuerySet:
        """Anime whose score rests on enough ratings to be tiered (catalog/tiers.py)."""
        return self.filter(score_reliable=True, score__isnull=False)

    def for_everyone(self) -> AnimeQuerySet:
        """Without adult titles (shown only to a visitor who asks: the filter's ``adult``)."""
        return self.filter(adult=False)

    def with_tier(self, *tiers: str) -> AnimeQuerySet:
        return self.filter(tier__in=tiers)

    def with_genres(self) -> AnimeQuerySet:
        return self.prefetch_related("genres")

    def in_franchise(self, key: str) -> AnimeQuerySet:
        return self.filter(franchise_key=key)

    def _links_to(self, field: str, names: list[str]) -> tuple[models.QuerySet, int, bool]:
        """The anime-to-``field`` links (genres or tags) whose name is one of ``names`` (any case),
        how many distinct known names that is, and whether every name is known.
        One query whatever the number of names (a join per name overflowed SQLite's 64-table
        limit at 32 genres); the names become ids first, so the links are read by their index."""
        wanted = sorted({name.lower() for name in names})
        target = self.model._meta.get_field(field).related_model
        ids = list(
            target.objects.annotate(lowered=Lower("name")).filter(lowered__in=wanted).values_list("pk", flat=True)
        )
        through = getattr(self.model, field).through
        column = f"{getattr(self.model, field).field.m2m_reverse_field_name()}_id"
        return through.objects.filter(**{f"{column}__in": ids}), len(ids), len(ids) == len(wanted)

    def _with_all(self, field: str, names: list[str]) -> AnimeQuerySet:
        if not names:
            return self
        links, count, all_known = self._links_to(field, names)
        if not all_known:
            return self.none()  # no anime has a genre that does not exist
        if count > 1:  # anime with as many matching links as names
            links = links.values("anime_id").annotate(found=Count("anime_id")).filter(found=count)
        return self.filter(mal_id__in=links.values("anime_id"))

    def with_all_genres(self, names: list[str]) -> AnimeQuerySet:
        """Anime having every one of the genres (themes, demographics) ``names``."""
        return self._with_all("genres", names)

    def with_all_tags(self, names: list[str]) -> AnimeQuerySet:
        """Anime having every one of the tags ``names``."""
        return self._with_all("tags", names)

    def without_genres(self, names: list[str]) -> AnimeQuerySet:
        if not names:
            return self
        links, _, _ = self._links_to("genres", names)
        return self.exclude(mal_id__in=links.values("anime_id"))

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
