"""Where an anime was made, read from its titles (catalog/origin.py)."""

from __future__ import annotations

import pytest

from catalog.origin import country_of_origin_of


@pytest.mark.parametrize(
    ("native_title", "title", "country"),
    [
        ("서울역", "Seoul-yeok", "KR"),  # Hangul
        ("魔道祖师", "Mo Dao Zu Shi", "CN"),  # 师: a simplified form Japanese does not write
        ("灵契", "Ling Qi", "CN"),
        ("時光代理人", "Shiguang Dailiren", "CN"),  # every character Japanese too, the title pinyin
        ("呪術廻戦", "Jujutsu Kaisen", ""),  # kanji only, romaji
        ("氷菓", "Hyouka", ""),
        ("青春×機関銃", "Aoharu x Kikanjuu", ""),  # a lone "x" is no pinyin
        ("カウボーイビバップ", "Cowboy Bebop", ""),
        ("", "Some OVA", ""),
    ],
)
def test_it_reads_the_country_from_the_script_of_the_titles(native_title: str, title: str, country: str) -> None:
    assert country_of_origin_of(native_title=native_title, title=title) == country
