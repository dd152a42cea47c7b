"""The catalogue in the Django admin.

Writes that have rules (the franchise key, tiers) go through ``catalog.services``: saving an
anime re-derives its franchise key, and a changed score re-tiers the catalogue, because with
quartile tiers one score can move the cut-offs.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, OrderBy, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from catalog import services
from catalog.models import Anime, AnimeList, AnimeRelation, CatalogImport, Genre, IndexBuild, Tag, TierThresholds
from catalog.search.freshness import TASK_BATCH, anime_index_enqueue, index_on_commit
from catalog.tiers import TierScheme


class DecadeListFilter(admin.SimpleListFilter):
    """Year by decade: one entry per decade present instead of sixty single years."""

    title = "year"
    parameter_name = "decade"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        years = Anime.objects.exclude(year=None).values_list("year", flat=True).distinct()
        decades = sorted({year // 10 * 10 for year in years}, reverse=True)
        return [(str(decade), f"{decade}s") for decade in decades] + [("none", "Unknown")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Anime]) -> QuerySet[Anime] | None:
        value = self.value()
        if value is None:
            return None
        if value == "none":
            return queryset.filter(year=None)
        if not value.isdigit():
            return queryset.none()
        decade = int(value)
        return queryset.filter(year__gte=decade, year__lte=decade + 9)


class AnimeAdminForm(forms.ModelForm):
    """Keeps the JSON list fields lists of strings, as the importer stores them. (No Meta:
    the admin builds the form's fields from the fieldsets.)"""

    def _string_list(self, name: str, example: str) -> list[str]:
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError(f"Enter a JSON list of strings, e.g. {example}.")
        return [item.strip() for item in value if item.strip()]

    def clean_title_synonyms(self) -> list[str]:
        return self._string_list("title_synonyms", '["FMA", "FMAB"]')

    def clean_title_other(self) -> list[str]:
        return self._string_list("title_other", '["Le Voyage de Chihiro"]')

    def clean_studios(self) -> list[str]:
        return self._string_list("studios", '["Bones"]')


def tier_badge_html(anime: Anime) -> str:
    if anime.tier:
        return format_html('<span class="tier-badge tier-{}">{}</span>', anime.tier, anime.get_tier_display())
    # Untiered: unscored, or a score from too few ratings (catalog/tiers.py: reliably_rated).
    label = "No score" if anime.score is None else "Not enough ratings"
    return format_html('<span class="tier-badge tier-none">{}</span>', label)


def tier_message(anime: Anime) -> str:
    """An anime's tier in a sentence's words, untiered ones with the reason."""
    if anime.tier:
        return anime.get_tier_display()
    return "none (no score)" if anime.score is None else "none (not enough ratings yet)"


class NullsLastOrderBy(OrderBy):
    """A column ordering that keeps unknown values last both ways: the admin reverses an
    ``OrderBy`` for a descending click, which would also move NULLs first (Postgres' default
    for DESC), putting the thousands of anime without a member count ahead of the others."""

    def reverse_ordering(self) -> NullsLastOrderBy:
        self.descending = not self.descending
        return self


def nulls_last_column(field: str, description: str) -> Any:
    """A change-list column showing ``field``, sorted with unknown values last both ways."""

    @admin.display(description=description, ordering=NullsLastOrderBy(F(field), nulls_last=True))
    def column(model_admin: admin.ModelAdmin, anime: Anime) -> object:
        return getattr(anime, field)

    column.__name__ = f"{field}_column"
    return column


class RelationInline(admin.TabularInline):
    """The related anime as the sources list them (the crawler and the importer keep them);
    the franchise key follows them."""

    model = AnimeRelation
    fields = ("relation", "related_mal_id", "related_link")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Related anime")
    def related_link(self, relation: AnimeRelation) -> str:
        return format_html('<a href="../../{}/change/">{}</a>', relation.related_mal_id, relation.related_mal_id)


@admin.register(Anime)
class AnimeAdmin(admin.ModelAdmin):
    form = AnimeAdminForm
    list_display = (
        "title",
        "type",
        "year_column",
        "score_column",
        "scored_by_column",
        "members_column",
        "tier_badge",
        "mal_link",
    )
    # Most members first, unknown counts last (Postgres sorts NULLs first in a plain DESC).
    ordering = (F("members").desc(nulls_last=True), "mal_id")
    list_display_links = ("title",)
    list_filter = (
        "type",
        "tier",
        "status",
        ("score_reliable", admin.BooleanFieldListFilter),
        ("members_estimated", admin.BooleanFieldListFilter),
        "adult",
        ("genres", admin.RelatedFieldListFilter),
        DecadeListFilter,
        "source",
    )
    inlines = (RelationInline,)
    # title_synonyms is a JSON list: its icontains lookup searches the list's JSON text, so any
    # synonym matches ("Sorcery Fight" finds Jujutsu Kaisen).
    search_fields = ("title", "title_english", "title_japanese", "title_synonyms", "title_other", "=mal_id")
    search_help_text = (
        "Searches the main, English and Japanese titles, every synonym and other-language title, and the exact MAL id."
    )
    list_per_page = 50
    filter_horizontal = ("genres", "tags")
    actions = ("recompute_tiers_quartiles", "recompute_tiers_seed", "reindex_in_search")
    readonly_fields = (
        "mal_id_display",
        "mal_link",
        "tier_badge",
        "franchise_key",
        "provenance",
        "fetched_at",
        "relations_checked_at",
        "score_reliable",
        "adult",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            "Titles",
            {"fields": ("mal_id_display", "title", "title_english", "title_japanese", "title_synonyms", "title_other")},
        ),
        (
            "Release",
            {
                "fields": (
                    "type",
                    "episodes",
                    "status",
                    "aired_from",
                    "aired_to",
                    "year",
                    "season",
                    "source",
                    "rating",
                    "duration",
                    "studios",
                )
            },
        ),
        (
            "Numbers",
            {
                "fields": (
                    "score",
                    "scored_by",
                    "score_reliable",
                    "rank",
                    "popularity",
                    "members",
                    "members_as_of",
                    "members_estimated",
                    "favorites",
                    "tier_badge",
                )
            },
        ),
        ("Genres and tags", {"fields": ("genres", "tags", "adult")}),
        ("Franchise", {"fields": ("franchise_key", "franchise_override", "relations_checked_at")}),
        ("Text", {"fields": ("synopsis", "background")}),
        ("Links", {"fields": ("mal_link", "mal_url", "image_url")}),
        ("Provenance", {"fields": ("provenance", "fetched_at", "created_at", "updated_at")}),
    )

    class Media:
        css = {"all": ("catalog/admin.css",)}

    def get_readonly_fields(self, request: HttpRequest, obj: Anime | None = None) -> tuple[str, ...]:
        # The MAL id is the primary key: typed once when adding, fixed afterwards.
        return (
            self.readonly_fields if obj is not None else tuple(f for f in self.readonly_fields if f != "mal_id_display")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Anime | None = None) -> Any:
        if obj is not None:
            return self.fieldsets
        titles = (
            "Titles",
            {"fields": ("mal_id", "title", "title_english", "title_japanese", "title_synonyms", "title_other")},
        )
        return (titles, *self.fieldsets[1:])

    @admin.display(description="MAL id", ordering="mal_id")
    def mal_id_display(self, anime: Anime) -> int:
        return anime.mal_id

    @admin.display(description="Tier", ordering="tier")
    def tier_badge(self, anime: Anime) -> str:
        return tier_badge_html(anime)

    year_column = nulls_last_column("year", "Year")
    score_column = nulls_last_column("score", "Score")
    scored_by_column = nulls_last_column("scored_by", "Scored by")
    members_column = nulls_last_column("members", "Members")

    @admin.display(description="MyAnimeList")
    def mal_link(self, anime: Anime) -> str:
        if not anime.mal_url:
            return "-"
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">MAL ↗</a>', anime.mal_url)

    def save_model(self, request: HttpRequest, obj: Anime, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.franchise_key = ""  # derived in save_related, from the override or the relations
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        # After the genres are saved: what follows from the values (adult, a reliable score).
        services.anime_derived_refresh(anime=obj)
        # Re-indexed once the admin's transaction (genres included) commits; an unchanged
        # anime is skipped by the index itself.
        index_on_commit([obj.mal_id])
        if services.anime_franchise_refresh(anime=obj):
            self.message_user(request, f"Franchise key is now “{obj.franchise_key}”.", messages.INFO)
        if not change or {"score", "scored_by", "members"} & set(form.changed_data):
            thresholds, changed = services.tier_thresholds_recompute()
            obj.refresh_from_db(fields=["tier"])
            if thresholds is not None:
                self.message_user(request, f"Tier: {tier_message(obj)}; {changed} anime changed tier.")

    def _recompute(self, request: HttpRequest, scheme: str) -> None:
        thresholds, changed = services.tier_thresholds_recompute(scheme=scheme)
        if thresholds is None:
            self.message_user(
                request, "Not enough scored anime to compute quartiles; tiers unchanged.", messages.WARNING
            )
            return
        self.message_user(
            request,
            f"{thresholds.get_scheme_display()}: Top-tier ≥ {thresholds.top_tier_min:.2f}, "
            f"Worthwhile ≥ {thresholds.worthwhile_min:.2f}, Watchable ≥ {thresholds.watchable_min:.2f}. "
            f"{changed} anime changed tier (the whole catalogue is re-tiered, whatever the selection).",
            messages.SUCCESS,
        )

    @admin.action(description="Recompute tier thresholds (quartiles)", permissions=["change"])
    def recompute_tiers_quartiles(self, request: HttpRequest, queryset: QuerySet[Anime]) -> None:
        self._recompute(request, TierScheme.QUARTILES)

    @admin.action(description="Recompute tiers with the seed's fixed cut-offs", permissions=["change"])
    def recompute_tiers_seed(self, request: HttpRequest, queryset: QuerySet[Anime]) -> None:
        self._recompute(request, TierScheme.SEED)

    @admin.action(description="Re-index in search", permissions=["change"])
    def reindex_in_search(self, request: HttpRequest, queryset: QuerySet[Anime]) -> None:
        ids = list(queryset.values_list("mal_id", flat=True))
        tasks = anime_index_enqueue(ids)
        self.message_user(
            request,
            f"Re-indexing {len(ids):,} anime in search ({tasks} task{'s' if tasks != 1 else ''} of at most {TASK_BATCH}).",
            messages.SUCCESS,
        )


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "anime_count")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(anime_count=Count("anime"))

    @admin.display(description="Anime", ordering="anime_count")
    def anime_count(self, tag: Tag) -> int:
        return tag.anime_count


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "anime_count")
    list_filter = ("kind",)
    search_fields = ("name",)
    ordering = ("kind", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Genre]:
        return super().get_queryset(request).annotate(anime_count=Count("anime"))

    @admin.display(description="Anime", ordering="anime_count")
    def anime_count(self, genre: Genre) -> int:
        return genre.anime_count


@admin.register(TierThresholds)
class TierThresholdsAdmin(admin.ModelAdmin):
    """The history of cut-offs; new rows come only from the recompute actions and command."""

    list_display = ("computed_at", "scheme", "top_tier_min", "worthwhile_min", "watchable_min", "scored_count")
    list_filter = ("scheme",)
    date_hierarchy = "computed_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TierThresholds | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TierThresholds | None = None) -> bool:
        return False


@admin.register(IndexBuild)
class IndexBuildAdmin(admin.ModelAdmin):
    """Full builds of the search index (``build_index``): progress while one runs, then the
    outcome. Read-only: rows come from the builds themselves."""

    list_display = ("started_at", "index", "status", "progress", "generation", "finished_at", "triggered_by")
    list_filter = ("status", "index")
    readonly_fields = [f.name for f in IndexBuild._meta.fields]

    @admin.display(description="Progress")
    def progress(self, build: IndexBuild) -> str:
        return f"{build.done:,} / {build.total:,} ({build.percent}%)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: IndexBuild | None = None) -> bool:
        return False


@admin.register(CatalogImport)
class CatalogImportAdmin(admin.ModelAdmin):
    """Runs of ``import_anime`` (``make run``'s first import among them): progress while one
    runs, then its counts or error. Read-only: rows come from the imports themselves."""

    list_display = ("started_at", "status", "progress", "finished_at", "owner")
    list_filter = ("status",)
    readonly_fields = [f.name for f in CatalogImport._meta.fields]

    @admin.display(description="Progress")
    def progress(self, run: CatalogImport) -> str:
        return f"{run.done:,} / {run.total:,} ({run.percent}%)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CatalogImport | None = None) -> bool:
        return False


@admin.register(AnimeList)
class AnimeListAdmin(admin.ModelAdmin):
    """Imported lists, by their counts only: staff see who has one and how big, never what is on
    it (no entries inline, no entry admin). Deleting a list is the owner's "clear"."""

    list_display = ("owner", "entry_count", "unmatched_count", "imported_at", "expires_at")
    list_filter = (("owner", admin.EmptyFieldListFilter),)
    fields = ("owner", "mal_user_name", "entry_count", "unmatched_count", "imported_at", "expires_at")
    readonly_fields = fields
    search_fields = ("owner__username",)
    ordering = ("-imported_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
