"""The one rule for what an evaluation may be given: ``EvaluateInputSerializer`` validates the page's
form, the API's body and the command's arguments, and documents the API's request in the schema.

A synopsis of 30-5,000 characters after trimming (NUL removed), genres from the catalogue's
vocabulary (case-insensitive, each at most once), type, source and age rating from the values the
catalogue holds, studios by name, episodes, minutes per episode and year in range (the year up to
five years ahead), a season. Every bad field gets its own message.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from evaluator.features import SEASONS, AnimeInput
from evaluator.selectors import catalogue_choices

SYNOPSIS_MIN = 30
SYNOPSIS_MAX = 5000
EPISODES_RANGE = (1, 3000)
DURATION_RANGE = (1, 300)
MAX_STUDIOS = 10
STUDIO_MAX_CHARS = 100
YEAR_MIN = 1917
YEARS_AHEAD = 5
MAX_GENRES = 40
REQUIRED = "This field is required."


def year_max() -> int:
    return timezone.now().year + YEARS_AHEAD


class _Optional(serializers.Field):
    """A field where null and "" mean "not given"."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is empty or data is None or data == "":
            if self.required:
                self.fail("required")
            return True, self.default_empty
        return False, data

    default_empty: Any = None


@extend_schema_field({"type": "string", "minLength": SYNOPSIS_MIN, "maxLength": SYNOPSIS_MAX})
class SynopsisField(_Optional):
    default_error_messages = {"required": REQUIRED}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be text.")
        # NUL cannot be stored by Postgres and is never meaningful in a synopsis.
        text = data.replace("\x00", "").replace("\r\n", "\n").strip()
        if len(text) < SYNOPSIS_MIN:
            raise serializers.ValidationError(f"Write at least {SYNOPSIS_MIN} characters (got {len(text)}).")
        if len(text) > SYNOPSIS_MAX:
            raise serializers.ValidationError(f"Keep it under {SYNOPSIS_MAX:,} characters (got {len(text):,}).")
        return text


@extend_schema_field({"type": "array", "items": {"type": "string"}, "maxItems": MAX_GENRES})
class GenreNamesField(_Optional):
    default_empty: Any = ()

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list | tuple) or not all(isinstance(g, str) for g in data):
            raise serializers.ValidationError("Must be a list of genre names.")
        if len(data) > MAX_GENRES:
            raise serializers.ValidationError(f"At most {MAX_GENRES} genres.")
        by_lower = {g.lower(): g for g in catalogue_choices().genres}
        unknown = [g for g in data if g.strip().lower() not in by_lower]
        if unknown:
            shown = ", ".join(repr(g.strip()[:40]) for g in unknown[:5])
            raise serializers.ValidationError(f"Unknown genre(s): {shown}. Valid names are listed at /api/genres/.")
        return tuple(sorted({by_lower[g.strip().lower()] for g in data}))


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "maxLength": STUDIO_MAX_CHARS}, "maxItems": MAX_STUDIOS}
)
class StudioNamesField(_Optional):
    """Studio names: a list, or one text with commas. A studio the catalogue knows takes the
    catalogue's spelling (any case); a new one is kept as given (it has no record yet)."""

    default_empty: Any = ()

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        if isinstance(data, str):
            data = data.split(",")
        if not isinstance(data, list | tuple) or not all(isinstance(s, str) for s in data):
            raise serializers.ValidationError("Must be a list of studio names.")
        names = [" ".join(s.split()) for s in data if s.strip()]
        if len(names) > MAX_STUDIOS:
            raise serializers.ValidationError(f"At most {MAX_STUDIOS} studios.")
        long = [n for n in names if len(n) > STUDIO_MAX_CHARS]
        if long:
            raise serializers.ValidationError(f"Keep each studio name under {STUDIO_MAX_CHARS} characters.")
        known = {s.lower(): s for s in catalogue_choices().studios}
        return tuple(dict.fromkeys(known.get(n.lower(), n) for n in names))


@extend_schema_field(OpenApiTypes.STR)
class CatalogueValueField(_Optional):
    """One of the values the catalogue holds for ``kind`` ("type", "source"), any case."""

    default_empty: Any = ""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be text.")
        choices = getattr(catalogue_choices(), f"{self.kind}s")
        found = {c.lower(): c for c in choices}.get(data.strip().lower())
        if found is None:
            raise serializers.ValidationError(
                f"Unknown {self.kind} {data.strip()[:40]!r}; choose one of: {', '.join(choices)}."
            )
        return found


class WholeNumberField(_Optional):
    """A whole number from ``low`` to ``high`` (a callable for a bound that moves, like the year)."""

    def __init__(self, low: int, high: int | Any, **kwargs: Any) -> None:
        self.low, self.high = low, high
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        low, high = self.low, self.high() if callable(self.high) else self.high
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError(f"Must be a whole number between {low} and {high}.")
        try:
            number = int(data.strip()) if isinstance(data, str) else data
        except ValueError:
            raise serializers.ValidationError(f"Must be a whole number between {low} and {high}.") from None
        if not low <= number <= high:
            raise serializers.ValidationError(f"Must be between {low} and {high}.")
        return number


@extend_schema_field({"type": "integer", "minimum": EPISODES_RANGE[0], "maximum": EPISODES_RANGE[1], "nullable": True})
class EpisodesField(WholeNumberField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(*EPISODES_RANGE, **kwargs)


@extend_schema_field({"type": "integer", "minimum": YEAR_MIN, "nullable": True})
class YearField(WholeNumberField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(YEAR_MIN, year_max, **kwargs)


@extend_schema_field({"type": "integer", "minimum": DURATION_RANGE[0], "maximum": DURATION_RANGE[1], "nullable": True})
class DurationField(WholeNumberField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(*DURATION_RANGE, **kwargs)


@extend_schema_field({"type": "string", "enum": ["", *SEASONS], "description": "Empty: not given."})
class SeasonField(_Optional):
    default_empty: Any = ""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data.strip().lower() not in SEASONS:
            raise serializers.ValidationError(f"Choose one of: {', '.join(SEASONS)}.")
        return data.strip().lower()


class EvaluateInputSerializer(serializers.Serializer):
    synopsis = SynopsisField(help_text=f"Plot synopsis, {SYNOPSIS_MIN}-{SYNOPSIS_MAX:,} characters after trimming.")
    genres = GenreNamesField(
        required=False, help_text="Genre, theme or demographic names from /api/genres/ (any case)."
    )
    type = CatalogueValueField("type", required=False, help_text="TV, Movie, OVA, ONA, Special, … (any case).")
    source = CatalogueValueField("source", required=False, help_text="Source material, e.g. Manga.")
    episodes = EpisodesField(required=False, help_text=f"{EPISODES_RANGE[0]}-{EPISODES_RANGE[1]}.")
    year = YearField(required=False, help_text=f"{YEAR_MIN} to five years from now.")
    studios = StudioNamesField(
        required=False,
        help_text="Animation studios (a list, or one text with commas). Their track record in the catalogue "
        "is one of the model's inputs; a studio the catalogue does not know has none.",
    )
    rating = CatalogueValueField("rating", required=False, help_text="Age rating, e.g. PG-13 - Teens 13 or older.")
    duration = DurationField(required=False, help_text="Minutes per episode.")
    season = SeasonField(required=False, help_text="Season it starts airing: winter, spring, summer or fall.")


class EvaluationInputError(Exception):
    """Bad input; ``errors`` maps each field to its messages (shown next to the field / 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def evaluation_input_clean(data: Any) -> AnimeInput:
    """Validate raw input (form, JSON or command line) with ``EvaluateInputSerializer``. Raises
    ``EvaluationInputError`` naming every bad field."""
    if not isinstance(data, dict):
        raise EvaluationInputError({"non_field_errors": ["Send a JSON object."]})
    serializer = EvaluateInputSerializer(data=data)
    if not serializer.is_valid():
        raise EvaluationInputError({name: [str(m) for m in messages] for name, messages in serializer.errors.items()})
    values = serializer.validated_data
    return AnimeInput(
        synopsis=values["synopsis"],
        genres=tuple(values.get("genres", ())),
        type=values.get("type", ""),
        source=values.get("source", ""),
        episodes=values.get("episodes"),
        year=values.get("year"),
        studios=tuple(values.get("studios", ())),
        rating=values.get("rating", ""),
        duration=values.get("duration"),
        season=values.get("season", ""),
    )
