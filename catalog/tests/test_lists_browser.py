"""A real browser: import a MyAnimeList export, search with the titles on the list hidden, then
read the recommendations. Headless Debian Chromium through Playwright."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from catalog.tests.test_lists import EXPORT_GZ
from testsupport.browser import page_open, screenshot_artifact

pytestmark = [pytest.mark.browser]


def test_it_imports_a_list_hides_it_in_search_and_recommends(
    browser: Browser, live_server, search_index_committed
) -> None:
    errors: list[str] = []
    page = page_open(browser, errors)
    page.goto(f"{live_server.url}/my-list/")
    page.set_input_files("#id_file", str(EXPORT_GZ))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".message")).to_have_text("Imported 11 entries (2 not in our catalogue, kept for later).")
    expect(page.locator("#list-summary")).to_contain_text("11 entries, 9 of them in our catalogue")
    screenshot_artifact(page, "my-list")

    page.goto(f"{live_server.url}/search/?q=death+note")
    page.wait_for_function("() => window.htmx !== undefined")
    first = page.locator(".hit").first
    expect(first.locator(".hit__title a")).to_have_text("Death Note")
    expect(first.locator(".list-badge")).to_have_text("Completed · you gave 7")
    page.evaluate("window.__marker = 1")
    page.locator(".search-form__filters > summary").click()
    page.select_option("#id_list", "hide")
    page.wait_for_url(re.compile(r".*list=hide.*"))
    expect(page.locator(".hit__title a", has_text=re.compile(r"^Death Note$"))).to_have_count(0)
    expect(page.locator(".hit").first).to_be_visible()
    assert page.evaluate("window.__marker") == 1, "the page reloaded instead of swapping the results"
    expect(page.locator(".hit .list-badge--entry")).to_have_count(0)

    page.goto(f"{live_server.url}/for-you/")
    cards = page.locator(".recommendation")
    expect(cards).to_have_count(12)
    expect(cards.first.locator(".recommendation__why")).to_contain_text(re.compile(r"^Because you rated "))
    for title in ("Death Note", "Steins;Gate", "Mushishi"):
        expect(page.locator(".recommendation .card__link", has_text=re.compile(f"^{re.escape(title)}$"))).to_have_count(
            0
        )
    page.select_option("#id_type", "Movie")
    expect(page.locator(".recommendation .card__meta").first).to_contain_text("Movie")
    screenshot_artifact(page, "for-you")
    assert errors == []
