"""A real browser on the evaluate page: the character counter counts, the result swaps in
through HTMX without a reload and the address becomes the result's, the Gemini comment replaces
the offline one by polling, which then stops; without JavaScript the form still works (PRG).

Headless Debian Chromium through Playwright (like catalog's browser test); covers from
MyAnimeList's CDN are answered locally."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from evaluator.models import Evaluation
from evaluator.tests.conftest import SYNOPSIS
from evaluator.tests.fake_gemini import Reply

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
COVER = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 225 318"><rect width="225" height="318"/></svg>'
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"Debian chromium is expected at {CHROMIUM} (apt install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Browser, errors: list[str], **options: object) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.route(
        "https://cdn.myanimelist.net/**",
        lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=COVER),
    )
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def test_it_counts_characters_and_swaps_in_the_result_then_the_gemini_comment(
    browser: Browser, live_server, active_run_committed, fake_gemini
) -> None:
    fake_gemini.default = Reply(comment="Gemini: it reads like its well-scored neighbours.", delay=0.5)
    errors: list[str] = []
    page = new_page(browser, errors)
    page.goto(f"{live_server.url}/evaluate/")
    page.wait_for_function("() => window.htmx !== undefined")
    counter = page.locator("#synopsis-counter")
    expect(counter).to_have_text("0 / 5,000 characters (at least 30)")
    page.fill("#id_synopsis", "Too short")
    expect(counter).to_have_text("9 / 5,000 characters (at least 30)")
    page.evaluate("window.__marker = 1")

    page.get_by_role("button", name="Evaluate").click()
    expect(page.locator("#evaluate-errors")).to_contain_text("Write at least 30 characters (got 9).")

    page.fill("#id_synopsis", SYNOPSIS)
    expect(counter).to_have_text(f"{len(SYNOPSIS)} / 5,000 characters")
    page.check("input[name=genres][value=Fantasy]")
    page.check("input[name=genres][value=Supernatural]")
    page.get_by_role("button", name="Evaluate").click()

    page.wait_for_url(re.compile(r".*/evaluate/[0-9a-f-]{36}/$"))
    evaluation = Evaluation.objects.get()
    expect(page.locator(".verdict .badge--large")).to_have_class(re.compile(f"badge--{evaluation.tier}"))
    expect(page.locator(".neighbour")).to_have_count(5)
    assert page.evaluate("window.__marker") == 1, "the page reloaded instead of swapping the result in"
    # The offline comment first, then Gemini's through the 1 s poll, which stops once final.
    expect(page.locator("#evaluation-comment")).to_contain_text(
        "Gemini: it reads like its well-scored neighbours.", timeout=15_000
    )
    expect(page.locator("#evaluation-comment")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    requests = len(fake_gemini.requests)
    page.wait_for_timeout(2500)
    assert len(fake_gemini.requests) == requests == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "evaluate.png"), full_page=True)
    assert errors == []


def test_it_evaluates_with_a_plain_form_post_without_javascript(
    browser: Browser, live_server, active_run_committed
) -> None:
    errors: list[str] = []
    page = new_page(browser, errors, java_script_enabled=False)
    page.goto(f"{live_server.url}/evaluate/")
    page.fill("#id_synopsis", SYNOPSIS + " <b>not bold</b>")
    page.check("input[name=genres][value=Romance]")
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_url(re.compile(r".*/evaluate/[0-9a-f-]{36}/$"))
    expect(page.locator(".verdict .badge--large")).to_be_visible()
    expect(page.locator(".neighbour")).to_have_count(5)
    page.locator(".verdict__input summary").click()
    expect(page.locator(".verdict__synopsis")).to_contain_text("<b>not bold</b>")
    assert errors == []
