from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.querysets import AnimeQuerySet
from catalog.tiers import Cutoffs, Tier, TierScheme
from catalog.vocabulary import AIRING, ANIME_TYPES, FINISHED, UPCOMING


class Genre(models.Model):
    class Kind(models.TextChoices):
        GENRE = "genre", "Genre"
        THEME = "theme", "Theme"
        DEMOGRAPHIC = "demographic", "Demographic"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)

    class Meta:
        ordering = ("kind", "name")

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A descriptive tag beyond MyAnimeList's genres, themes and demographics ("Bounty Hunter",
    "Post Apocalypse", "Time Loop"), from AniList's tags and Kitsu's categories."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Anime(models.Model):
    """One MyAnimeList anime, keyed by its MAL id."""

    class Status(models.TextChoices):
        UNKNOWN = "", "Unknown"
        FINISHED = FINISHED, "Finished airing"
        AIRING = AIRING, "Currently airing"
        UPCOMING = UPCOMING, "Not yet aired"

    mal_id = models.PositiveIntegerField(primary_key=True, verbose_name="MAL id")
    title = models.CharField(max_length=255, db_index=True)
    title_english = models.CharField(max_length=255, blank=True)
    title_japanese = models.CharField(max_length=255, blank=True)
    title_synonyms = models.JSONField(default=list, blank=True)
    title_other = models.JSONField(
        default=list,
        blank=True,
        verbose_name="titles in other languages",
        help_text="The French, German, Spanish... titles (Jikan's titles list); search matches them.",
    )

    type = models.CharField(
        max_length=32, blank=True, db_index=True, choices=[("", "Unknown"), *((t, t) for t in ANIME_TYPES)]
    )
    episodes = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=64, blank=True, choices=Status.choices)
    aired_from = models.DateField(null=True, blank=True)
    aired_to = models.DateField(null=True, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    season = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="Source material, e.g. Manga.")
    rating = models.CharField(max_length=64, blank=True)
    duration = models.CharField(max_length=64, blank=True)
    studios = models.JSONField(default=list, blank=True)

    score = models.FloatField(null=True, blank=True, db_index=True)
    scored_by = models.PositiveIntegerField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)
    popularity = models.PositiveIntegerField(null=True, blank=True)
    members = models.PositiveIntegerField(
        null=True, blank=True, db_index=True, help_text="The freshest known count (see its date); empty: unknown."
    )
    members_as_of = models.DateField(null=True, blank=True, help_text="When the member count was taken.")
    members_estimated = models.BooleanField(
        default=False, help_text="The count is a dated estimate from a third-party data set, not MyAnimeList's own."
    )
    favorites = models.PositiveIntegerField(null=True, blank=True)
    score_reliable = models.BooleanField(
        default=False,
        db_index=True,
        help_text="The score rests on enough ratings to be tiered (catalog/tiers.py: reliably_rated).",
    )
    adult = models.BooleanField(
        default=False, db_index=True, help_text="Hentai genre or Rx rating: hidden unless a visitor asks for it."
    )
    episode_titles = models.JSONField(default=list, blank=True, help_text="English episode titles, in order.")
    relations_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When a source last gave this anime's related anime (empty: never)."
    )

    synopsis = models.TextField(blank=True)
    background = models.TextField(blank=True)
    image_url = models.URLField(max_length=500, blank=True)
    mal_url = models.URLField(max_length=500, blank=True, verbose_name="MyAnimeList URL")

    genres = models.ManyToManyField(Genre, related_name="anime", blank=True)
    tags = models.ManyToManyField(Tag, related_name="anime", blank=True)

    franchise_key = models.SlugField(max_length=128, db_index=True, editable=False)
    franchise_override = models.SlugField(
        max_length=128,
        blank=True,
        help_text="Set to pin this anime's franchise by hand; leave empty to derive it from the related-anime graph.",
    )
    tier = models.CharField(max_length=16, choices=Tier.choices, blank=True, db_index=True)

    provenance = models.CharField(max_length=255, blank=True, help_text="Which sources this record came from.")
    fetched_at = models.DateTimeField(null=True, blank=True, help_text="When the newest source was fetched.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Indexed: the search's title index asks for the latest change on every query.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = AnimeQuerySet.as_manager()

    class Meta:
        ordering = ("-members", "mal_id")
        verbose_name_plural = "anime"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=0, score__lte=10),
                name="anime_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.mal_id})"

    def get_absolute_url(self) -> str:
        return reverse("catalog:anime-detail", kwargs={"mal_id": self.mal_id})

    @property
    def display_title(self) -> str:
        return self.title_english or self.title

    def genres_of_kind(self, kind: str) -> list[Genre]:
        return [g for g in self.genres.all() if g.kind == kind]


class RelationType(models.TextChoices):
    """How MyAnimeList relates two anime. The first eight join a franchise (catalog/franchise.py);
    the others (same characters, another setting, a loose link) do not."""

    PREQUEL = "prequel", "Prequel"
    SEQUEL = "sequel", "Sequel"
    PARENT = "parent", "Parent story"
    SIDE_STORY = "side_story", "Side story"
    SUMMARY = "summary", "Summary"
    FULL_STORY = "full_story", "Full story"
    ALTERNATIVE = "alternative", "Alternative version"
    SPIN_OFF = "spin_off", "Spin-off"
    ALTERNATIVE_SETTING = "alternative_setting", "Alternative setting"
    CHARACTER = "character", "Character"
    OTHER = "other", "Other"


class AnimeRelation(models.Model):
    """An anime's link to a related one, as its source lists it. The related anime may be outside
    the catalogue (a music video, a title not imported yet): the link is kept by MAL id."""

    anime = models.ForeignKey(Anime, on_delete=models.CASCADE, related_name="relations")
    related_mal_id = models.PositiveIntegerField(db_index=True)
    relation = models.CharField(max_length=24, choices=RelationType.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("anime", "related_mal_id", "relation"), name="catalog_relation_once"),
        ]

    def __str__(self) -> str:
        return f"{self.anime_id} {self.relation} {self.related_mal_id}"


class TierThresholdsQuerySet(models.QuerySet):
    def current(self) -> TierThresholds | None:
        """The cut-offs in force: the latest row."""
        return self.order_by("-computed_at", "-id").first()


class TierThresholds(models.Model):
    """The tier cut-offs in force (the latest row) and their history."""

    scheme = models.CharField(max_length=16, choices=TierScheme.choices, default=TierScheme.QUARTILES)
    watchable_min = models.FloatField()
    worthwhile_min = models.FloatField()
    top_tier_min = models.FloatField()
    scored_count = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now_add=True)

    objects = TierThresholdsQuerySet.as_manager()

    class Meta:
        ordering = ("-computed_at", "-id")
        verbose_name_plural = "tier thresholds"
        get_latest_by = ("computed_at", "id")

    def __str__(self) -> str:
        return (
            f"{self.get_scheme_display()}: Top-tier >= {self.top_tier_min:.2f}, "
            f"Worthwhile >= {self.worthwhile_min:.2f}, Watchable >= {self.watchable_min:.2f}"
        )

    @property
    def cutoffs(self) -> Cutoffs:
        return Cutoffs(self.watchable_min, self.worthwhile_min, self.top_tier_min)


class EmbeddingCache(models.Model):
    """One embedded text, keyed by (backend, model, dimension, sha256 of the text): re-indexing
    unchanged anime embeds nothing. ``vector`` holds ``dimension`` float32 values."""

    backend = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    dimension = models.PositiveIntegerField()
    text_sha256 = models.CharField(max_length=64)
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("backend", "model", "dimension", "text_sha256"), name="embedding_cache_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.backend}/{self.model}/{self.dimension} {self.text_sha256[:12]}"


class IndexBuildQuerySet(models.QuerySet):
    def running(self) -> IndexBuildQuerySet:
        return self.filter(status=IndexBuild.Status.RUNNING)


class IndexBuild(models.Model):
    """A full build of the search index (a new generation beside the live one), with its
    progress: what the search page shows while the first index is being built, and the admin's
    history. At most one runs per index at a time (the database referees)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    index = models.CharField(max_length=128, help_text="The index's base name (embedding backend, model, dimension).")
    generation = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    triggered_by = models.CharField(max_length=32, default="command")
    owner = models.CharField(max_length=255, blank=True, help_text="The building process (host:pid).")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects = IndexBuildQuerySet.as_manager()

    class Meta:
        ordering = ("-started_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("index",), condition=models.Q(status="running"), name="index_build_one_running"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.index} build {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0


class CatalogImportQuerySet(models.QuerySet["CatalogImport"]):
    def running(self) -> CatalogImportQuerySet:
        return self.filter(status=CatalogImport.Status.RUNNING)


class CatalogImport(models.Model):
    """One run of ``import_anime`` with its progress: what the pages show while a first import
    fills the catalogue (``make run`` serves meanwhile), and the admin's history."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    owner = models.CharField(max_length=255, blank=True, help_text="The importing process (host:pid).")
    paths = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Anime to store once the files are read.")
    done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects = CatalogImportQuerySet.as_manager()

    class Meta:
        ordering = ("-started_at", "-id")

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0


class ListStatus(models.TextChoices):
    """MyAnimeList's statuses of a list entry."""

    WATCHING = "watching", "Watching"
    COMPLETED = "completed", "Completed"
    ON_HOLD = "on-hold", "On-Hold"
    DROPPED = "dropped", "Dropped"
    PLAN_TO_WATCH = "plan-to-watch", "Plan to Watch"


class AnimeListQuerySet(models.QuerySet["AnimeList"]):
    def anonymous(self) -> AnimeListQuerySet:
        return self.filter(owner__isnull=True)

    def expired(self, now: datetime) -> AnimeListQuerySet:
        return self.anonymous().filter(expires_at__lte=now)


class AnimeList(models.Model):
    """An imported MyAnimeList list: a signed-in user's (``owner``), or a signed-out visitor's,
    which their session points to by id and which expires with it (``expires_at``; beat deletes
    expired ones), so a big list never bloats the session table. Only its owner (or that
    session) sees it; the admin shows its counts, never its entries."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="anime_list", null=True, blank=True
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Signed-out visitors' lists only: deleted after this."
    )
    mal_user_name = models.CharField(max_length=64, blank=True, help_text="From the export's <myinfo>.")
    imported_at = models.DateTimeField()
    entry_count = models.PositiveIntegerField(default=0)
    unmatched_count = models.PositiveIntegerField(default=0, help_text="Entries whose anime is not in the catalogue.")

    objects = AnimeListQuerySet.as_manager()

    class Meta:
        verbose_name = "imported list"
        constraints = [
            # A list belongs to an account or expires with a visitor's session: never neither.
            models.CheckConstraint(
                condition=models.Q(owner__isnull=False) | models.Q(expires_at__isnull=False),
                name="catalog_list_owner_or_expiry",
            )
        ]

    def __str__(self) -> str:
        who = f"user {self.owner_id}" if self.owner_id else "a signed-out visitor"
        return f"List of {who} ({self.entry_count} entries)"


class AnimeListEntry(models.Model):
    """One entry of an imported list, kept whether or not its anime is in the catalogue (by MAL
    id, so an anime the catalogue gains later is matched then)."""

    anime_list = models.ForeignKey(AnimeList, on_delete=models.CASCADE, related_name="entries")
    mal_id = models.PositiveIntegerField()
    title = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=ListStatus.choices)
    score = models.PositiveSmallIntegerField(default=0, help_text="0 = not scored, else 1-10.")
    watched_episodes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("anime_list", "mal_id"), name="catalog_list_entry_once"),
            models.CheckConstraint(condition=models.Q(score__lte=10), name="catalog_list_entry_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.mal_id} ({self.status})"
