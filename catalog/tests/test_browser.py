"""A real browser on the browse page: changing a filter swaps the results through HTMX without
a full reload and updates the address, keeping a tag followed from a detail page; a result opens
its detail page; covers show whichever site hosts them; without JavaScript the form still works.

Headless Debian Chromium through Playwright; the cover hosts (``settings.COVER_HOSTS``) are
answered locally so the test never leaves the machine."""

from __future__ import annotations

import pytest
from django.db.models import F
from playwright.sync_api import Browser, expect

from catalog.models import Anime
from testsupport.browser import page_open, screenshot_artifact

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("catalog_committed")]


def test_it_swaps_results_without_reload_and_opens_a_detail_page(browser: Browser, live_server) -> None:
    errors: list[str] = []
    page = page_open(browser, errors)
    top_tier = Anime.objects.filter(tier="top-tier")
    most_watched_top = top_tier.order_by(F("members").desc(nulls_last=True), "mal_id").first()
    assert most_watched_top is not None

    page.goto(f"{live_server.url}/anime/")
    page.wait_for_function("() => window.htmx !== undefined")
    expect(page.locator(".results__count")).to_contain_text(f"{Anime.objects.count():,} anime")
    screenshot_artifact(page, "browse")
    page.evaluate("window.__marker = 1")

    page.select_option("#id_tier", "top-tier")

    page.wait_for_url("**/anime/?*tier=top-tier*")
    assert "year_min=" not in page.url, "empty filters are left out of the pushed address"
    expect(page.locator(".results__count")).to_contain_text(f"{top_tier.count():,} anime")
    expect(page.locator(".card__link").first).to_have_text(most_watched_top.title)
    assert page.evaluate("window.__marker") == 1, "the page reloaded instead of swapping the results"
    badges = page.locator(".card__badge").all_inner_texts()
    assert len(badges) == 24 and set(badges) == {"Top-tier"}
    screenshot_artifact(page, "browse-top-tier")

    # Pagination swaps too, keeping the filter in the address.
    page.locator(".pagination a[rel=next]").click()
    page.wait_for_url("**tier=top-tier*page=2*")
    expect(page.locator(".results__count")).to_contain_text("page 2 of")
    assert page.evaluate("window.__marker") == 1

    first = page.locator(".card__link").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/anime/*/")
    expect(page.locator("h1")).to_have_text(title)
    assert page.evaluate("window.__marker") is None, "the detail page is a new page"
    expect(page.locator(".detail__tier .badge")).to_have_text("Top-tier")
    screenshot_artifact(page, "detail")

    assert errors == []


def test_a_tag_followed_from_a_detail_page_stays_while_another_filter_changes(browser: Browser, live_server) -> None:
    errors: list[str] = []
    page = page_open(browser, errors)
    tagged_top = Anime.objects.for_everyone().with_all_tags(["Steampunk"]).filter(tier="top-tier")
    assert tagged_top.exists()

    page.goto(f"{live_server.url}/anime/5114/")  # Fullmetal Alchemist: Brotherhood, tagged Steampunk
    page.locator(".chip--tag", has_text="Steampunk").click()
    page.wait_for_url("**/anime/?tag=Steampunk")
    page.wait_for_function("() => window.htmx !== undefined")
    expect(page.locator(".tag-picker input[value='Steampunk']")).to_be_checked()
    page.evaluate("window.__marker = 1")

    page.select_option("#id_tier", "top-tier")

    page.wait_for_url("**tier=top-tier*")
    assert "tag=Steampunk" in page.url, "changing the tier dropped the tag"
    expect(page.locator(".results__count")).to_contain_text(f"{tagged_top.count():,} anime")
    assert page.evaluate("window.__marker") == 1
    screenshot_artifact(page, "browse-tag")
    assert errors == []


def test_it_shows_covers_hosted_by_kitsu_and_anilist(browser: Browser, live_server) -> None:
    errors: list[str] = []
    page = page_open(browser, errors)
    for host in ("https://media.kitsu.app/", "https://s4.anilist.co/"):
        anime = Anime.objects.filter(image_url__startswith=host).order_by("mal_id").first()
        assert anime is not None, host
        page.goto(f"{live_server.url}{anime.get_absolute_url()}")
        cover = page.locator(f"img[src='{anime.image_url}']")
        expect(cover).to_be_visible()
        # Loaded, not blocked by the page's Content-Security-Policy.
        page.wait_for_function(
            "src => [...document.images].some(img => img.src === src && img.complete && img.naturalWidth > 0)",
            arg=anime.image_url,
        )
    assert errors == []


def test_it_filters_with_a_plain_form_submit_without_javascript(browser: Browser, live_server) -> None:
    errors: list[str] = []
    page = page_open(browser, errors, java_script_enabled=False)
    terrible = Anime.objects.filter(tier="terrible")

    page.goto(f"{live_server.url}/anime/")
    page.select_option("#id_tier", "terrible")
    page.select_option("#id_sort", "-score")
    page.get_by_role("button", name="Apply filters").click()

    page.wait_for_url("**tier=terrible*")
    expect(page.locator(".results__count")).to_contain_text(f"{terrible.count():,} anime")
    best_terrible = terrible.order_by(F("score").desc(nulls_last=True), "mal_id").first()
    assert best_terrible is not None
    expect(page.locator(".card__link").first).to_have_text(best_terrible.title)
    assert errors == []


def test_it_shows_the_pages_on_a_narrow_screen(browser: Browser, live_server) -> None:
    errors: list[str] = []
    page = page_open(browser, errors)
    page.set_viewport_size({"width": 390, "height": 844})

    for name, path in (
        ("home-mobile", "/"),
        ("browse-mobile", "/anime/"),
        ("browse-tag-mobile", "/anime/?tag=Steampunk"),  # the tag picker open
        ("detail-mobile", "/anime/5114/"),
    ):
        page.goto(f"{live_server.url}{path}")
        # Nothing overflows sideways on a phone.
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        screenshot_artifact(page, name)

    assert errors == []
