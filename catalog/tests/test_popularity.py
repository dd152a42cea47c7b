"""The popularity estimate: current counts as they are, dated ones scaled by the measured growth,
unknown ones from the fit on the catalogue's features."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from catalog.popularity import COEFFICIENTS, FEATURE_NAMES, estimated_members, features


class _Tags:
    def __init__(self, n: int) -> None:
        self.n = n

    def all(self) -> list[int]:
        return list(range(self.n))


def anime(**fields) -> SimpleNamespace:
    base = dict(
        members=None, members_estimated=False, members_as_of=None, title_other=[], title_synonyms=[],
        title_english="", score=None, year=2010, episodes=12, synopsis="", tags=_Tags(0), studios=[],
        episode_titles=[], type="TV",
    )  # fmt: skip
    return SimpleNamespace(**(base | fields))


def test_a_current_count_is_taken_as_it_is() -> None:
    assert estimated_members(anime(members=12_345, members_as_of=date(2026, 2, 15))) == 12_345


def test_a_dated_count_grows_to_today_by_its_size() -> None:
    small = estimated_members(anime(members=1_000, members_estimated=True, members_as_of=date(2018, 5, 7)))
    middle = estimated_members(anime(members=50_000, members_estimated=True, members_as_of=date(2018, 5, 7)))
    recent = estimated_members(anime(members=50_000, members_estimated=True, members_as_of=date(2025, 1, 1)))
    assert small == pytest.approx(1_000 * 2.33 * 1.04, abs=1)
    assert middle == pytest.approx(50_000 * 1.70 * 1.04, abs=1)
    assert recent == 52_000


def test_an_unknown_count_is_estimated_from_what_is_known() -> None:
    assert len(COEFFICIENTS) == len(FEATURE_NAMES) == len(features(anime()))
    bare = estimated_members(anime(type="ONA", year=2022))
    known = estimated_members(
        anime(
            title_other=["a", "b", "c"], title_english="The Show", score=7.8, synopsis="x", tags=_Tags(10),
            studios=["Madhouse"], episode_titles=["One"] * 24, episodes=24,
        )
    )  # fmt: skip
    assert 1 <= bare < 2_000 < known  # more titles, a score, a synopsis, tags: better known
