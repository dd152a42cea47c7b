"""Headless Debian Chromium through Playwright, as every browser test uses it: how it is launched
(no downloads, no background network), a page whose console errors are collected and whose covers
(MyAnimeList's CDN, Kitsu's, AniList's: ``settings.COVER_HOSTS``) are answered locally (the tests
never leave the machine), and screenshots."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from playwright.sync_api import Browser, Page, Playwright, Route

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COVER = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 225 318">'
    b'<rect width="225" height="318" fill="#5b4fa8"/></svg>'
)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def chromium_launch(playwright: Playwright) -> Browser:
    assert Path(CHROMIUM).exists(), f"Debian chromium is expected at {CHROMIUM} (apt install chromium)"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def serve_cover(route: Route) -> None:
    route.fulfill(status=200, content_type="image/svg+xml", body=COVER)


def page_open(browser: Browser, errors: list[str], *, height: int = 900, **context_options: object) -> Page:
    """A page in a fresh context (its own cookies and cache); console errors go to ``errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": height}, **context_options)
    for host in settings.COVER_HOSTS:
        context.route(f"{host}/**", serve_cover)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def screenshot_artifact(page: Page, name: str) -> None:
    """A full-page screenshot into test-artifacts/screenshots (not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
