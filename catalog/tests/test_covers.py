"""Covers: the catalogue links them on MyAnimeList's CDN and, for the anime anime-mapper knows only
from Kitsu or AniList, on theirs; the pages' Content-Security-Policy must let every one of them
load (catalog/tests/test_browser.py sees them load in a browser)."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from catalog.models import Anime

pytestmark = pytest.mark.usefixtures("catalog")


def test_the_content_security_policy_allows_every_cover_the_catalogue_links(client: Client) -> None:
    """A policy naming MyAnimeList's CDN alone blocked ~1,370 covers (a console error, no cover)."""
    hosts = Counter(
        f"{parts.scheme}://{parts.netloc}"
        for parts in map(urlsplit, Anime.objects.exclude(image_url="").values_list("image_url", flat=True))
    )
    assert hosts == {
        "https://cdn.myanimelist.net": 20_468,
        "https://media.kitsu.app": 1_371,
        "https://s4.anilist.co": 1,
    }
    assert set(hosts) == set(settings.COVER_HOSTS)

    kitsu = Anime.objects.filter(image_url__startswith="https://media.kitsu.app/").order_by("mal_id").first()
    response = client.get(f"/anime/{kitsu.mal_id}/")
    assert f'src="{kitsu.image_url}"' in response.content.decode()
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert set(hosts) <= set(policy["img-src"].split())
