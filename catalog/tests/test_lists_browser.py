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


ATTACK = """<!doctype html><html><head><title>cat pictures</title></head><body>
<form id="clear" method="post" action="{victim}/my-list/clear/"></form>
<script>
const evil = '<?xml version="1.0"?><myanimelist><myinfo><user_name>attacker</user_name></myinfo>'
  + '<anime><series_animedb_id>1</series_animedb_id><my_status>Completed</my_status></anime></myanimelist>';
function upload(path) {{
  const form = new FormData();
  form.append("file", new Blob([evil], {{type: "text/xml"}}), "evil.xml");
  return fetch("{victim}" + path, {{method: "POST", body: form, credentials: "include", mode: "no-cors"}});
}}
Promise.allSettled([upload("/api/list/"), upload("/my-list/")]).then(() => {{
  document.title = "sent";
  document.getElementById("clear").submit();
}});
</script></body></html>"""


@pytest.fixture
def attacker_site():
    """Serves the attack page on another port of this machine; returns its base URL maker."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pages, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def _list_summary(page, live_server) -> dict:
    import json

    response = page.request.get(f"{live_server.url}/api/list/")
    return json.loads(response.text())["summary"] if response.status == 200 else {}


def test_another_site_cannot_change_or_clear_a_visitor_s_list(
    browser: Browser, live_server, catalog_committed, attacker_site
) -> None:
    """A page on another origin (another host name, so cross-site; and another port of the same
    host, so same-site and the cookies go along) posts a list to the API and the page and submits
    the clear form: the visitor's list, signed out and then signed in, stays as it was, and they
    stay signed in."""
    from django.contrib.auth import get_user_model

    pages, port = attacker_site
    pages["/"] = ATTACK.format(victim=live_server.url).encode()
    errors: list[str] = []
    page = page_open(browser, errors)
    page.goto(f"{live_server.url}/my-list/")
    page.set_input_files("#id_file", str(EXPORT_GZ))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#list-summary")).to_contain_text("11 entries")
    victim_host = live_server.url.split("//")[1].split(":")[0]
    other_hosts = ["127.0.0.1" if victim_host == "localhost" else "localhost", victim_host]

    def attack() -> list[str]:
        landed = []
        for host in other_hosts:
            page.goto(f"http://{host}:{port}/")
            page.wait_for_url(re.compile(r".*/my-list/clear/"))  # the form submission landed
            landed.append(page.content())
        return landed

    landed = attack()
    summary = _list_summary(page, live_server)
    assert summary["entries"] == 11 and summary["user_name"] == "example_user" and summary["stored_in"] == "session"
    assert all("Writes from another site are refused." in html for html in landed)

    get_user_model().objects.create_user("victim", password="a-long-password-5")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "victim")
    page.fill("#id_password", "a-long-password-5")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#list-summary")).to_contain_text("11 entries")
    landed = attack()
    summary = _list_summary(page, live_server)
    assert summary["entries"] == 11 and summary["user_name"] == "example_user" and summary["stored_in"] == "account"
    assert all("Writes from another site are refused." in html for html in landed)
    page.goto(f"{live_server.url}/my-list/")
    expect(page.locator("#list-summary")).to_contain_text("Kept in your account")
