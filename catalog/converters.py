"""The one ``mal_id`` path converter of every URL that names an anime (pages and API)."""

from __future__ import annotations

MAX_MAL_ID = 2**31 - 1  # PositiveIntegerField's upper bound on every backend


class MalIdConverter:
    """Digits within the column's range; anything else does not match (a 404, in JSON under
    /api/: ``animesite.errors.not_found``)."""

    regex = "[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_MAL_ID:
            raise ValueError("out of range")
        return number

    def to_url(self, value: int | str) -> str:
        return str(int(value))
