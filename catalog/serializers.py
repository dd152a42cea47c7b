"""Read-only representations of the catalogue for the REST API.

Serializers only shape data: the rows come from ``catalog.selectors`` and the tier
thresholds in force are handed in through the serializer context (``thresholds``), so a page
of 24 anime costs one thresholds query, not 24.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.lists.selectors import list_for_request
from catalog.models import Anime, Genre, RelationType, Tag, TierThresholds
from catalog.tiers import TIER_ORDER, Tier


class OptionalURLField(serializers.URLField):
    """A URL, or null where the catalogue has none (an empty string is not a valid URI)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: str | None) -> str | None:
        return value or None


class TierSerializer(serializers.Serializer):
    """An anime's tier under the thresholds in force."""

    value = serializers.ChoiceField(choices=Tier.choices, help_text="Tier id, as accepted by the `tier` filter.")
    label = serializers.CharField(help_text="Human-readable tier name.")
    threshold = serializers.FloatField(
        allow_null=True, help_text="Lowest score of this tier (inclusive); null for Terrible, which has no floor."
    )
    below = serializers.FloatField(
        allow_null=True, help_text="Scores of this tier stay below this value; null for Top-tier."
    )
    scheme = serializers.CharField(help_text="How the thresholds were computed: `quartiles` or `seed`.")


def tier_data(anime: Anime, thresholds: TierThresholds | None) -> dict[str, Any] | None:
    """The tier object of one anime, or None when it has no score (hence no tier)."""
    if not anime.tier:
        return None
    tier = Tier(anime.tier)
    threshold = below = None
    if thresholds is not None:
        cutoffs = thresholds.cutoffs
        threshold = cutoffs.lower_bound(tier)
        position = TIER_ORDER.index(tier)
        below = cutoffs.lower_bound(TIER_ORDER[position - 1]) if position > 0 else None
    return {
        "value": tier.value,
        "label": tier.label,
        "threshold": threshold,
        "below": below,
        "scheme": thresholds.scheme if thresholds is not None else "",
    }


class RelationSerializer(serializers.Serializer):
    mal_id = serializers.IntegerField(help_text="The related anime (it may be outside the catalogue).")
    relation = serializers.ChoiceField(choices=RelationType.choices)
    url = serializers.URLField(help_text="Its record in the API (404 when it is not in the catalogue).")


class MyListSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["entry", "franchise"],
        help_text="entry: the anime is on your list; franchise: you completed an earlier anime of its franchise.",
    )
    status = serializers.CharField(help_text="Your status (entry), e.g. completed; empty for franchise.")
    label = serializers.CharField(help_text='As a card shows it: "Completed", "Sequel of Steins;Gate (completed)".')
    score = serializers.IntegerField(help_text="Your score, 0 when not scored.")


class _AnimeBaseSerializer(serializers.ModelSerializer):
    genres = serializers.SerializerMethodField(help_text="Genre names (MyAnimeList's 'genres').")
    my_list = serializers.SerializerMethodField(
        help_text="This anime on your imported list (only you see it); null when it is not, or you have none."
    )
    themes = serializers.SerializerMethodField(help_text="Theme names, e.g. 'Military', 'School'.")
    demographics = serializers.SerializerMethodField(help_text="Target demographic names, e.g. 'Shounen'.")
    tier = serializers.SerializerMethodField(
        help_text="Quality tier; null when the score rests on too few ratings (see `rated_enough`) or there is none."
    )
    rated_enough = serializers.BooleanField(
        source="score_reliable",
        read_only=True,
        help_text="Whether the score rests on enough ratings to be tiered (1,000 known ratings, or a third of "
        "the members when the rating count is unknown); false: 'not enough ratings yet'.",
    )
    members_as_of = serializers.DateField(
        read_only=True, allow_null=True, help_text="When the member count was taken; null when it is unknown."
    )
    members_estimated = serializers.BooleanField(
        read_only=True, help_text="The member count is a dated third-party estimate, not MyAnimeList's own figure."
    )

    def _names(self, anime: Anime, kind: str) -> list[str]:
        # genres are prefetched by the selectors; sort here so the order is stable.
        return sorted(genre.name for genre in anime.genres.all() if genre.kind == kind)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_genres(self, anime: Anime) -> list[str]:
        return self._names(anime, Genre.Kind.GENRE)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_themes(self, anime: Anime) -> list[str]:
        return self._names(anime, Genre.Kind.THEME)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_demographics(self, anime: Anime) -> list[str]:
        return self._names(anime, Genre.Kind.DEMOGRAPHIC)

    @extend_schema_field(TierSerializer(allow_null=True))
    def get_tier(self, anime: Anime) -> dict[str, Any] | None:
        return tier_data(anime, self.context.get("thresholds"))

    @extend_schema_field(MyListSerializer(allow_null=True))
    def get_my_list(self, anime: Anime) -> dict[str, Any] | None:
        user_list = list_for_request(self.context.get("request"))
        return user_list.badge(anime) if user_list is not None else None


class AnimeListSerializer(_AnimeBaseSerializer):
    """One anime in a list: enough to show a card and follow ``url`` for the full record."""

    url = serializers.SerializerMethodField(help_text="This anime's full record in the API.")
    image_url = OptionalURLField(help_text="Cover image on MyAnimeList's CDN; null when unknown.")

    class Meta:
        model = Anime
        fields = (
            "mal_id",
            "url",
            "title",
            "title_english",
            "type",
            "episodes",
            "year",
            "season",
            "score",
            "scored_by",
            "rated_enough",
            "members",
            "members_as_of",
            "members_estimated",
            "tier",
            "genres",
            "themes",
            "demographics",
            "image_url",
            "my_list",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, anime: Anime) -> str:
        path = reverse("api-anime-detail", kwargs={"mal_id": anime.mal_id})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class AnimeUrlsSerializer(serializers.Serializer):
    mal_url = OptionalURLField(help_text="The anime's page on MyAnimeList.")
    image_url = OptionalURLField(help_text="Cover image on MyAnimeList's CDN; null when unknown.")
    site_url = serializers.URLField(help_text="The anime's page on this site.")
    api_url = serializers.URLField(help_text="This record in the API.")


class AnimeDetailSerializer(_AnimeBaseSerializer):
    """The full record of one anime."""

    urls = serializers.SerializerMethodField(help_text="Links to the anime on MyAnimeList, this site and the API.")
    title_synonyms = serializers.ListField(child=serializers.CharField(), help_text="Other known titles.")
    title_other = serializers.ListField(
        child=serializers.CharField(), help_text="Titles in other languages (French, German, Spanish...)."
    )
    studios = serializers.ListField(child=serializers.CharField(), help_text="Animation studios.")
    tags = serializers.SerializerMethodField(help_text="Descriptive tags beyond the genres, e.g. 'Time Loop'.")
    relations = serializers.SerializerMethodField(help_text="Related anime as MyAnimeList lists them.")
    episode_titles = serializers.ListField(child=serializers.CharField(), help_text="English episode titles, in order.")

    class Meta:
        model = Anime
        fields = (
            "mal_id",
            "title",
            "title_english",
            "title_japanese",
            "title_synonyms",
            "title_other",
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
            "score",
            "scored_by",
            "rated_enough",
            "rank",
            "popularity",
            "members",
            "members_as_of",
            "members_estimated",
            "favorites",
            "synopsis",
            "background",
            "genres",
            "themes",
            "demographics",
            "tags",
            "tier",
            "franchise_key",
            "relations",
            "episode_titles",
            "urls",
            "provenance",
            "fetched_at",
            "my_list",
        )
        read_only_fields = fields
        extra_kwargs = {
            "franchise_key": {
                "help_text": "Shared by the anime that a chain of prequel, sequel, parent story, side story, summary, "
                "full story, alternative version or spin-off links joins (an anime without such links joins by "
                "its title): the slug and MAL id of the franchise's first entry, e.g. `fullmetal-alchemist-121`."
            },
            "score": {"help_text": "MyAnimeList score (0-10); null when unscored."},
            "scored_by": {"help_text": "How many users scored it (as of the source's date); null when unknown."},
            "members": {"help_text": "How many users have it on their list, as of members_as_of; null when unknown."},
        }

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, anime: Anime) -> list[str]:
        return sorted(tag.name for tag in anime.tags.all())

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(RelationSerializer(many=True))
    def get_relations(self, anime: Anime) -> list[dict[str, Any]]:
        return [
            {
                "mal_id": r.related_mal_id,
                "relation": r.relation,
                "url": self._absolute(reverse("api-anime-detail", kwargs={"mal_id": r.related_mal_id})),
            }
            for r in sorted(anime.relations.all(), key=lambda r: (r.relation, r.related_mal_id))
        ]

    @extend_schema_field(AnimeUrlsSerializer)
    def get_urls(self, anime: Anime) -> dict[str, str | None]:
        return {
            "mal_url": anime.mal_url or None,
            "image_url": anime.image_url or None,
            "site_url": self._absolute(anime.get_absolute_url()),
            "api_url": self._absolute(reverse("api-anime-detail", kwargs={"mal_id": anime.mal_id})),
        }


class GenreSerializer(serializers.ModelSerializer):
    anime_count = serializers.IntegerField(read_only=True, help_text="How many anime of the catalogue carry it.")

    class Meta:
        model = Genre
        fields = ("name", "kind", "anime_count")
        read_only_fields = fields
        extra_kwargs = {
            "name": {"help_text": "Use it in the `genre` and `exclude_genre` filters."},
            "kind": {"help_text": "genre, theme or demographic."},
        }


class TagSerializer(serializers.ModelSerializer):
    anime_count = serializers.IntegerField(read_only=True, help_text="How many anime of the catalogue carry it.")

    class Meta:
        model = Tag
        fields = ("name", "anime_count")
        read_only_fields = fields
        extra_kwargs = {"name": {"help_text": "Use it in the `tag` filter."}}
