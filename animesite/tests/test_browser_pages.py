"""Every page in a real browser (headless Debian Chromium through Playwright), against a live
server with the real catalogue, search index and an active evaluator model: home, browse with a
filter, detail with "More like this", live search (typing swaps results in without a reload, a
filter, the similar link), evaluate (the result, then the comment), the model report, and the
admin login. No page logs a console error. Each page's screenshot (1280x800 viewport, not the
full page) is saved to test-artifacts/screenshots/pages/<page>.png; `make screenshots`
(UPDATE_SCREENSHOTS=1) saves them to docs/screenshots/, which the README shows, so a plain test
run leaves the repository unchanged.

The browse and evaluate interactions are tested in depth by catalog/tests/test_browser.py and
evaluator/tests/test_browser.py; this module covers the rest and keeps the README's pictures
current."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect

from catalog.models import Anime
from evaluator.tests.conftest import SYNOPSIS, _restore
from testsupport.browser import page_open

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT_HEIGHT = 800
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else ROOT / "test-artifacts" / "screenshots" / "pages"
)


@pytest.fixture
def site(live_server, search_index_committed, trained, settings) -> str:
    """The live server's URL with the catalogue indexed and the session's model active."""
    settings.EVALUATOR_COMMENT_BACKEND = "offline"
    _restore(trained)
    return live_server.url


@pytest.fixture
def errors() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, errors: list[str]) -> Iterator[Page]:
    page = page_open(browser, errors, height=VIEWPORT_HEIGHT)
    yield page
    page.context.close()


def screenshot(page: Page, name: str) -> None:
    """The viewport only (small PNGs for the README), after fonts and images settled."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.fonts.ready")
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    # 256-colour palette PNGs: a third of the size, and the pages are flat colours anyway.
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def test_it_shows_home_browse_and_detail_with_more_like_this(site: str, page: Page, errors: list[str]) -> None:
    page.goto(f"{site}/")
    expect(page.locator("h1").first).to_be_visible()
    screenshot(page, "home")

    page.goto(f"{site}/anime/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.select_option("#id_tier", "top-tier")
    page.wait_for_url("**/anime/?*tier=top-tier*")
    expect(page.locator(".results__count")).to_contain_text(f"{Anime.objects.filter(tier='top-tier').count():,} anime")
    screenshot(page, "browse")

    anime = Anime.objects.get(mal_id=5114)  # Fullmetal Alchemist: Brotherhood
    page.goto(f"{site}/anime/5114/")
    expect(page.locator("h1")).to_have_text(anime.title)
    similar = page.locator(".similar__item")
    expect(page.locator("#similar-heading")).to_have_text("More like this")
    expect(similar.first).to_be_visible()
    titles = similar.locator(".similar__title").all_inner_texts()
    assert titles and all("Fullmetal" not in t for t in titles), f"its own franchise is folded out: {titles}"
    screenshot(page, "detail")
    assert errors == []


def test_it_searches_live_as_you_type_filters_and_follows_a_similar_link(
    site: str, page: Page, errors: list[str]
) -> None:
    page.goto(f"{site}/search/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__marker = 1")

    page.locator("#search-q").press_sequentially("brothers who lost their bodies to alchemy", delay=10)
    page.wait_for_url(re.compile(r".*/search/\?.*q=brothers"))
    first = page.locator(".hit__title a").first
    expect(first).to_contain_text("Fullmetal Alchemist")
    assert page.evaluate("window.__marker") == 1, "typing reloaded the page instead of swapping the results"
    expect(page.locator(".hit").first.locator("mark").first).to_be_visible()  # matched words marked
    screenshot(page, "search")

    # A filter narrows the same query without a reload, and the address keeps it.
    page.locator(".search-form__filters > summary").click()
    page.select_option("#id_type", "Movie")
    page.wait_for_url(re.compile(r".*type=Movie.*"))
    expect(page.locator(".results__count")).to_be_visible()
    types = set(
        Anime.objects.filter(title__in=page.locator(".hit__title a").all_inner_texts()).values_list("type", flat=True)
    )
    assert types == {"Movie"}, types
    assert page.evaluate("window.__marker") == 1
    screenshot(page, "search-filtered")

    # From a result to its detail page, then on through "More like this".
    page.locator(".hit__title a").first.click()
    page.wait_for_url(re.compile(r".*/anime/\d+/$"))
    link = page.locator(".similar__item a").first
    target = link.get_attribute("href")
    link.click()
    page.wait_for_url(f"**{target}")
    expect(page.locator("h1")).to_be_visible()
    assert errors == []


def test_it_evaluates_and_shows_the_model_report(site: str, page: Page, errors: list[str]) -> None:
    page.goto(f"{site}/evaluate/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.fill("#id_synopsis", SYNOPSIS)
    page.check("input[name=genres][value=Fantasy]")
    page.fill("#id_studios", "Madhouse")
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_url(re.compile(r".*/evaluate/[0-9a-f-]{36}/$"))
    expect(page.locator(".verdict .badge--large")).to_be_visible()
    expect(page.locator(".neighbour")).to_have_count(5)
    expect(page.locator("#tier-set")).to_contain_text("certainty")
    expect(page.locator("#reasons")).to_contain_text("Madhouse")
    expect(page.locator("#evaluation-comment")).not_to_be_empty()
    page.locator("#evaluation-result").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.querySelector('#evaluation-result').offsetTop - 20)")
    screenshot(page, "evaluate")

    page.goto(f"{site}/model/")
    expect(page.locator("h1")).to_have_text("How good is the model?")
    expect(page.locator("#design-time")).to_be_visible()
    charts = page.locator(".report-charts img")
    expect(charts).to_have_count(5)
    for i in range(5):  # every chart loaded as an image
        charts.nth(i).scroll_into_view_if_needed()
        assert charts.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "model")
    assert errors == []


def test_it_imports_a_list_and_recommends(site: str, page: Page, errors: list[str]) -> None:
    export = ROOT / "catalog" / "tests" / "data" / "animelist_1764567890_-_1234567.xml.gz"
    page.goto(f"{site}/my-list/")
    page.set_input_files("#id_file", str(export))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#list-summary")).to_contain_text("11 entries")
    screenshot(page, "my-list")
    page.goto(f"{site}/for-you/")
    expect(page.locator(".recommendation")).to_have_count(12)
    screenshot(page, "for-you")
    assert errors == []


def test_it_logs_into_the_admin(site: str, page: Page, errors: list[str]) -> None:
    get_user_model().objects.create_superuser("admin", "admin@example.org", "a-long-test-password")
    page.goto(f"{site}/admin/")
    page.wait_for_url("**/admin/login/?next=/admin/")
    screenshot(page, "admin-login")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "a-long-test-password")
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{site}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{site}/admin/catalog/anime/")
    expect(page.locator("#result_list")).to_be_visible()
    screenshot(page, "admin")
    assert errors == []
