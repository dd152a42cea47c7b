"""The filter form of browse and search carries every filter parameter: a change of one field
submits the whole form (HTMX), so a parameter it had no field for (a tag from a detail page's
chip, ``adult=include``) was dropped, and browse's out-of-band error slots for them had no target
on the page (htmx:oobErrorNoTarget in the browser)."""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict
from django.test import Client

from catalog.models import Anime, Tag
from catalog.search.forms import search_request_parse

pytestmark = pytest.mark.usefixtures("catalog")

BOUNTY_HUNTER = "Bounty Hunter"


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def checked_tags(html: str) -> list[str]:
    return re.findall(r'<input type="checkbox" name="tag" value="([^"]+)" checked>', html)


def test_every_out_of_band_error_slot_of_browse_has_its_target_on_the_page(client: Client) -> None:
    page = client.get("/anime/").content.decode()
    fragment = client.get("/anime/?tier=top-tier", headers={"HX-Request": "true"}).content.decode()

    slots = set(re.findall(r'<div id="([^"]+)" class="field-errors" hx-swap-oob="true">', fragment))
    assert {"errors-tag", "errors-adult", "errors-genre", "errors-all"} <= slots
    assert slots <= ids_in(page), f"slots without a target: {sorted(slots - ids_in(page))}"


def test_browse_and_search_forms_keep_a_tag_from_a_chip_link(client: Client) -> None:
    assert Tag.objects.filter(name=BOUNTY_HUNTER).exists()
    tagged = Anime.objects.for_everyone().with_all_tags([BOUNTY_HUNTER]).count()
    assert tagged > 0

    browse = client.get("/anime/?tag=bounty+hunter").content.decode()  # names match case-insensitively
    assert checked_tags(browse) == [BOUNTY_HUNTER]
    assert f"<strong>{tagged:,}</strong> anime" in browse
    assert re.search(
        r'<details class="field genre-picker tag-picker" open>\s*<summary>Tags <span class="count">1</span>', browse
    )
    # Every tag of the catalogue is offered, each once, the ticked one first.
    offered = re.findall(r'<input type="checkbox" name="tag" value="([^"]+)"', browse)
    names = list(Tag.objects.order_by("name").values_list("name", flat=True))
    assert offered == [BOUNTY_HUNTER, *(name for name in names if name != BOUNTY_HUNTER)]

    search = client.get(f"/search/?tag={BOUNTY_HUNTER}").content.decode()
    assert checked_tags(search) == [BOUNTY_HUNTER]


def test_a_search_reads_the_tag_and_adult_filters() -> None:
    parse = search_request_parse(QueryDict("q=space+cowboys&tag=bounty+hunter&adult=include"))
    assert parse.errors == {}
    assert parse.request.criteria.tags == [BOUNTY_HUNTER]
    assert parse.request.criteria.adult is True
    assert search_request_parse(QueryDict("q=space+cowboys")).request.criteria.adult is False


def test_the_adult_choice_is_offered_when_the_catalogue_holds_adult_titles_or_the_address_asks(
    client: Client,
) -> None:
    assert not Anime.objects.filter(adult=True).exists()  # left out of the default import
    assert 'name="adult"' not in client.get("/anime/").content.decode()

    asked = client.get("/anime/?adult=include").content.decode()
    assert '<option value="include" selected>Include adult titles</option>' in asked
    assert 'name="adult"' in client.get("/search/?adult=INCLUDE").content.decode()

    Anime.objects.filter(mal_id=5114).update(adult=True)
    offered = client.get("/anime/").content.decode()
    assert '<option value="" selected>Hide adult titles</option>' in offered
    assert '<option value="include">Include adult titles</option>' in offered
