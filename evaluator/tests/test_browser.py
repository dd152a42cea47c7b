"""A real browser on the evaluate page: the character counter counts, the result swaps in
through HTMX without a reload and the address becomes the result's, the Gemini comment replaces
the offline one by polling, which then stops; without JavaScript the form still works (PRG).

Headless Debian Chromium through Playwright (like catalog's browser test); covers from
MyAnimeList's CDN are answered locally."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from evaluator.models import Evaluation
from evaluator.tests.conftest import SYNOPSIS
from testsupport.browser import page_open, screenshot_artifact
from testsupport.fake_gemini import Reply

pytestmark = [pytest.mark.browser]


def test_it_counts_characters_and_swaps_in_the_result_then_the_gemini_comment(
    browser: Browser, live_server, active_run_committed, fake_gemini
) -> None:
    fake_gemini.default = Reply(comment="Gemini: it reads like its well-scored neighbours.", delay=0.5)
    errors: list[str] = []
    page = page_open(browser, errors)
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
    page.fill("#id_studios", "Madhouse")
    page.select_option("#id_rating", "PG-13 - Teens 13 or older")
    page.fill("#id_duration", "24")
    page.get_by_role("button", name="Evaluate").click()

    page.wait_for_url(re.compile(r".*/evaluate/[0-9a-f-]{36}/$"))
    evaluation = Evaluation.objects.get()
    expect(page.locator(".verdict .badge--large")).to_have_class(re.compile(f"badge--{evaluation.tier}"))
    expect(page.locator(".neighbour")).to_have_count(5)
    # The tier set and the reasons, as stored.
    expect(page.locator("#tier-set")).to_contain_text(f"{evaluation.tier_set_text}, with 90% certainty")
    expect(page.locator("#tier-set .badge")).to_have_count(len(evaluation.tier_set))
    expect(page.locator("#reasons")).to_contain_text("Madhouse's record: ")
    shown = len(evaluation.reasons_up) + len(evaluation.reasons_down)
    expect(page.locator("#reasons .reason")).to_have_count(shown)
    assert page.evaluate("window.__marker") == 1, "the page reloaded instead of swapping the result in"
    # The offline comment first, then Gemini's through the 1 s poll, which stops once final.
    expect(page.locator("#evaluation-comment")).to_contain_text(
        "Gemini: it reads like its well-scored neighbours.", timeout=15_000
    )
    expect(page.locator("#evaluation-comment")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    requests = len(fake_gemini.requests)
    page.wait_for_timeout(2500)
    assert len(fake_gemini.requests) == requests == 1
    screenshot_artifact(page, "evaluate")
    assert errors == []


def test_it_evaluates_with_a_plain_form_post_without_javascript(
    browser: Browser, live_server, active_run_committed
) -> None:
    errors: list[str] = []
    page = page_open(browser, errors, java_script_enabled=False)
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


def test_it_shows_the_time_split_table_and_the_coverage_plot(
    browser: Browser, live_server, active_run_committed
) -> None:
    errors: list[str] = []
    page = page_open(browser, errors)
    page.goto(f"{live_server.url}/model/")
    table = page.locator("#design-time")
    expect(table.locator("tbody tr")).to_have_count(6)
    expect(table.locator("tbody tr.is-active td").first).to_have_text("Chosen model (nested selection)")
    expect(page.locator("#time-coverage")).to_contain_text("the 90% sets held the true tier of")
    plot = page.locator("img[src$='/coverage.png']")
    expect(plot).to_be_visible()
    page.wait_for_function("() => document.querySelector(\"img[src$='/coverage.png']\").naturalWidth > 0")
    screenshot_artifact(page, "model")
    assert errors == []
