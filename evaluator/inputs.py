"""The one rule for what an evaluation may be given: ``EvaluateInputSerializer`` validates the page's
form, the API's body and the command's arguments, and documents the API's request in the schema.

A synopsis of 30-5,000 characters after trimming (NUL removed), genres from the catalogue's
vocabulary (case-insensitive, each at most once), type, source and age rating from the values the
catalogue holds, studios by name, episodes, minutes per episode and year in range (the year up to
five years ahead), a season, and the catalogue anime it is a sequel of (``sequel_of``: a MAL id;
on the page also a title, resolved by the search's title matching). Every bad field gets its own
message.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from catalog.search.titles import title_tokens
from evaluator.features import SEASONS, AnimeInput
from evaluator.selectors import catalogue_choices, sequel_candidate_get, sequel_candidates

SYNOPSIS_MIN = 30
SYNOPSIS_MAX = 5000
EPISODES_RANGE = (1, 3000)
DURATION_RANGE = (1, 300)
MAX_STUDIOS = 10
STUDIO_MAX_CHARS = 100
YEAR_MIN = 1917
YEARS_AHEAD = 5
MAX_GENRES = 40
SEQUEL_TITLE_MAX = 200
MAL_ID_MAX = 2**31 - 1
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


@extend_schema_field(
    {
        "type": "integer",
        "minimum": 1,
        "maximum": MAL_ID_MAX,
        "nullable": True,
        "description": "MyAnimeList id of a catalogue anime.",
    }
)
class SequelOfField(_Optional):
    """The MAL id of the catalogue anime the input directly follows."""

    def to_internal_value(self, data: Any) -> int:
        wrong = "Must be the MyAnimeList id (a whole number) of a catalogue anime."
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError(wrong)
        try:
            mal_id = int(data.strip()) if isinstance(data, str) else data
        except ValueError:
            raise serializers.ValidationError(wrong) from None
        if not 1 <= mal_id <= MAL_ID_MAX or sequel_candidate_get(mal_id) is None:
            raise serializers.ValidationError(f"No anime with MyAnimeList id {str(mal_id)[:20]} in the catalogue.")
        return mal_id


# A suggestion's label, "Title (2011, TV)": the title before the facts in brackets.
_LABEL = re.compile(r"^(?P<title>.*\S)\s*\([^()]*\)$")


def sequel_title_resolve(text: str) -> int:
    """The MAL id of the one catalogue anime ``text`` names (a title, or a suggestion's label):
    the title it spells out exactly, or the only title it comes close to. Raises a
    ``ValidationError`` naming the candidates when none or several fit."""
    candidates = sequel_candidates(text)
    wanted = text.strip().lower()
    labelled = _LABEL.match(text.strip())
    if labelled:  # a suggestion's label typed or kept as it was shown
        chosen = [c for c in sequel_candidates(labelled["title"]) if c.label.lower() == wanted]
        if len(chosen) == 1:
            return chosen[0].mal_id
    exact = [c for c in candidates if c.exact]
    # Spelt out as several anime's titles or synonyms: the one whose main title it is ("Naruto",
    # "Hunter x Hunter": the 2011 series is "Hunter x Hunter (2011)").
    main = [c for c in exact if title_tokens(c.title) == title_tokens(text)]
    for fits in (exact, main):
        if len(fits) == 1:
            return fits[0].mal_id
    if len(candidates) == 1:
        return candidates[0].mal_id
    shown = text.strip()[:60]
    if not candidates:
        raise serializers.ValidationError(f"No anime in the catalogue has a title like {shown!r}.")
    several = exact or candidates
    names = "; ".join(c.label for c in several[:5])
    raise serializers.ValidationError(
        f"{shown!r} fits several anime: {names}. Type the full title, or pick one of the suggestions."
    )


@extend_schema_field({"type": "string", "maxLength": SEQUEL_TITLE_MAX})
class SequelTitleField(_Optional):
    """The page's "sequel of" typed as a title (without JavaScript, or before a suggestion is
    picked): resolved to one catalogue anime's MAL id."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be text.")
        if len(data.strip()) > SEQUEL_TITLE_MAX:
            raise serializers.ValidationError(f"Keep it under {SEQUEL_TITLE_MAX} characters.")
        return sequel_title_resolve(data)


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
    sequel_of = SequelOfField(
        required=False,
        help_text="The MyAnimeList id of the catalogue anime it directly follows (its prequel or parent story); "
        "the franchise's record is one of the model's inputs. Find an id by title with /api/search/?q=<title>.",
    )
    # The page's title box; the API takes the id only (dropped below unless context["titles"]).
    sequel_of_title = SequelTitleField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.context.get("titles"):
            self.fields.pop("sequel_of_title")


class EvaluationInputError(Exception):
    """Bad input; ``errors`` maps each field to its messages (shown next to the field / 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def evaluation_input_clean(data: Any, *, titles: bool = False) -> AnimeInput:
    """Validate raw input (form, JSON or command line) with ``EvaluateInputSerializer``. Raises
    ``EvaluationInputError`` naming every bad field. ``titles`` (the page): "sequel of" may come
    as ``sequel_of_title``, a title resolved to one anime, when no ``sequel_of`` id was picked;
    its messages are the ``sequel_of`` field's."""
    if not isinstance(data, dict):
        raise EvaluationInputError({"non_field_errors": ["Send a JSON object."]})
    if titles and data.get("sequel_of") not in (None, ""):
        data = {k: v for k, v in data.items() if k != "sequel_of_title"}  # the picked suggestion wins
    serializer = EvaluateInputSerializer(data=data, context={"titles": titles})
    if not serializer.is_valid():
        errors = {name: [str(m) for m in messages] for name, messages in serializer.errors.items()}
        if "sequel_of_title" in errors:
            errors.setdefault("sequel_of", []).extend(errors.pop("sequel_of_title"))
        raise EvaluationInputError(errors)
    values = serializer.validated_data
    sequel_of = values.get("sequel_of") or values.get("sequel_of_title")
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
        follows=(sequel_of,) if sequel_of else (),
    )
