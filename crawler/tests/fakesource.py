"""A local stand-in for Jikan and MyAnimeList, for the offline tests and the benchmark.

It serves the recorded files of ../shared/fixtures byte for byte at their real paths, and
generates from those same files what the recordings lack: a second and a last list page, 404,
429 with Retry-After, 500, truncated HTML, a page without synopsis. Jikan's whole catalogue
(``/anime?page=N&order_by=mal_id&sort=asc``) is every recorded anime object in MAL id order,
as list entries, plus a few generated ones (a music video, an adult title, a sequel, a title
linked by characters only), 25 a page; ``/anime/{id}/relations`` answers the recorded relations
of the ``/full`` files and generated ones for the rest. ``later = True`` turns it into the same
catalogue a while later (see ``FakeSources.catalogue``). With ``bench_pages`` it instead serves
that many list pages of ``bench_rows`` rows each (by popularity and by MAL id alike), every
row's detail page made from a real page with the id and title varied.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=UTF-8"

ROBOTS = b"""User-agent: *
Disallow: /login.php
Disallow: /anime/900005
"""

# Ids the generated pages use for the cases the recordings lack.
TRUNCATED_ID = 900002  # cut after the sidebar's genres: a record without statistics
HEADLESS_ID = 900003  # cut inside <head>, before any title: dropped, "missing title"
MISSING_ID = 900004  # 404
FORBIDDEN_ID = 900005  # disallowed by robots.txt
THROTTLED_ID = 900006  # 429 with Retry-After: 1, then the page
FLAKY_ID = 900007  # 500, then the page
LOW_MEMBERS = 20_000

# Jikan's whole catalogue: the recorded anime objects, and these generated ones.
MUSIC_ID = 900020  # type Music: left out of the catalogue
ADULT_ID = 900021  # rated Rx, genre Hentai: left out of the catalogue
FRIEREN_ID, FRIEREN_2_ID = 52991, 59978  # linked by Sequel/Prequel (59978 generated)
ONE_PIECE_ID, TORIKO_ID = 21, 10033  # linked by Character only (10033 generated)
# Added in the later catalogue: the third season (Prequel 59978), and a title whose relations
# answer 404.
FRIEREN_3_ID, NO_RELATIONS_ID = 900030, 900031
RELATIONS_THROTTLED_ID = 5114  # /relations: 429 with Retry-After: 1, then the answer
RELATIONS_FLAKY_ID = 21  # /relations: 500, then the answer
# Recorded /anime/{id}/full files: the anime objects and their real relations.
FULL_FILES = {
    1: "anime-1-full.json",
    21: "anime-21-full.json",
    5114: "anime-5114-full.json",
    52991: "anime-52991-full.json",
}
# Keys of /anime/{id}/full that list entries do not have.
FULL_ONLY_KEYS = ("relations", "theme", "external", "streaming")
PER_PAGE = 25


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _link(mal_id: int, name: str, kind: str = "anime") -> dict[str, Any]:
    """One entry of a Jikan relation group."""
    slug = re.sub(r"\W+", "_", name).strip("_")
    return {"mal_id": mal_id, "type": kind, "name": name, "url": f"https://myanimelist.net/{kind}/{mal_id}/{slug}"}


def _jikan_404(path: str) -> Reply:
    return Reply(
        404,
        _json(
            {
                "status": 404,
                "type": "BadResponseException",
                "message": "Resource does not exist",
                "error": f"404 on {path}",
            }
        ),
    )


class FakeSources:
    def __init__(self, fixtures: Path, *, bench_pages: int = 0, bench_rows: int = 25) -> None:
        self.fixtures = fixtures
        self.bench_pages = bench_pages
        self.bench_rows = bench_rows
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[float, str]] = []  # (monotonic time, path) of every request
        self.user_agents: set[str] = set()
        self.lock = threading.Lock()
        self._cache: dict[str, bytes] = {}
        self.later = False  # serve the catalogue as it is a while later (FakeSources.catalogue)

    # ------------------------------------------------------------------ files

    def file(self, name: str) -> bytes:
        if name not in self._cache:
            self._cache[name] = (self.fixtures / name).read_bytes()
        return self._cache[name]

    def jikan(self, name: str) -> dict[str, Any]:
        return json.loads(self.file(f"jikan/{name}"))

    def hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] += 1
            return self.hits[key]

    # ------------------------------------------------------------------ routing

    def reply(self, raw_path: str) -> Reply:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((time.monotonic(), raw_path))
        self.hit(path if not parts.query else f"{path}?{parts.query}")
        if path.startswith("/v4/"):
            return self.jikan_reply(path[3:], query)
        return self.mal_reply(path, query)

    # ------------------------------------------------------------------ Jikan

    def jikan_reply(self, path: str, query: dict[str, str]) -> Reply:
        if path == "/top/anime":
            page = int(query.get("page", "1") or 1)
            if self.bench_pages:
                return Reply(200, self.bench_jikan_page(page))
            if page == 1:
                return Reply(200, self.file("jikan/top-anime-tv-page-1.json"))
            return Reply(200, _json(self.jikan_list_page(page)))
        if path == "/anime":
            if (query.get("order_by"), query.get("sort")) != ("mal_id", "asc"):
                return Reply(400, _json({"status": 400, "type": "ValidationException", "message": "not recorded"}))
            page = int(query.get("page", "1") or 1)
            if self.bench_pages:
                return Reply(200, self.bench_jikan_page(page))
            return Reply(200, _json(self.catalogue_page(page)))
        match = re.fullmatch(r"/anime/(\d+)/relations", path)
        if match:
            return self.relations_reply(int(match.group(1)))
        match = re.fullmatch(r"/anime/(\d+)(/full)?", path)
        if not match:
            return _jikan_404(path)
        mal_id, full = int(match.group(1)), bool(match.group(2))
        recorded = FULL_FILES
        if full and mal_id == 5114 and self.hit("jikan-429") == 1:
            return Reply(
                429,
                _json({"status": 429, "type": "RateLimitException", "message": "You are being rate limited"}),
                headers={"Retry-After": "1"},
            )
        if full and mal_id == 21 and self.hit("jikan-500") == 1:
            return Reply(500, _json({"status": 500, "type": "InternalException", "message": "Unable to parse"}))
        if full and mal_id in recorded:
            return Reply(200, self.file(f"jikan/{recorded[mal_id]}"))
        if not full and mal_id == 457:
            return Reply(200, self.file("jikan/anime-457.json"))
        return _jikan_404(f"https://myanimelist.net/anime/{mal_id}/")

    def jikan_list_page(self, page: int) -> dict[str, Any]:
        """Page 2: Mushishi, Cowboy Bebop, One Piece, Frieren and the winter-2018 season,
        by members, the last one under 100,000 members; page 3: nobody above 30,000, the end."""
        if page == 2:
            first_ids = {entry["mal_id"] for entry in self.jikan("top-anime-tv-page-1.json")["data"]}
            entries = [self.jikan("anime-457.json")["data"]]
            entries += [self.list_entry(f"anime-{i}-full.json") for i in (1, 21, 52991)]
            entries += [e for e in self.jikan("seasons-2018-winter.json")["data"] if e["mal_id"] not in first_ids]
            entries = sorted(entries, key=lambda e: -e["members"])[:24]
            low = dict(
                self.jikan("seasons-2018-winter.json")["data"][-1],
                mal_id=900001,
                title="Under The Threshold",
                members=99_000,
            )
            entries.append(low)
            return {
                "pagination": {
                    "last_visible_page": 3,
                    "has_next_page": True,
                    "current_page": 2,
                    "items": {"count": len(entries), "total": 51, "per_page": 25},
                },
                "data": entries,
            }
        if page == 3:
            low = dict(
                self.jikan("seasons-2018-winter.json")["data"][-1],
                mal_id=900008,
                title="Far Under The Threshold",
                members=LOW_MEMBERS,
            )
            return {
                "pagination": {
                    "last_visible_page": 3,
                    "has_next_page": False,
                    "current_page": 3,
                    "items": {"count": 1, "total": 51, "per_page": 25},
                },
                "data": [low],
            }
        return {
            "pagination": {
                "last_visible_page": 3,
                "has_next_page": False,
                "current_page": page,
                "items": {"count": 0, "total": 51, "per_page": 25},
            },
            "data": [],
        }

    def list_entry(self, full_file: str) -> dict[str, Any]:
        """A recorded ``/anime/{id}/full`` object as a list page has it (no relations)."""
        return {k: v for k, v in self.jikan(full_file)["data"].items() if k not in FULL_ONLY_KEYS}

    # ------------------------------------------------------------------ Jikan's whole catalogue

    def catalogue(self) -> list[dict[str, Any]]:
        """Every anime of the fake Jikan, as list entries, in MAL id order. The recorded objects
        (the /full files, Mushishi, the list and search pages), and generated from them: a music
        video, an adult title, Frieren's second season (not aired yet) and Toriko.

        A while later (``later``): the second season airs (status and episodes change), the
        third season and another new title appear, Mushishi has more members."""
        entries: dict[int, dict[str, Any]] = {}
        for name in (
            "top-anime-tv-page-1.json",
            "seasons-2018-winter.json",
            "anime-search-q-naruto.json",
            "anime-search-q-berserk.json",
        ):
            entries.update((e["mal_id"], e) for e in self.jikan(name)["data"])
        entries[457] = self.jikan("anime-457.json")["data"]
        for mal_id, name in FULL_FILES.items():
            entries[mal_id] = self.list_entry(name)
        frieren, mushishi = entries[FRIEREN_ID], entries[457]
        hentai = {
            "mal_id": 12,
            "type": "anime",
            "name": "Hentai",
            "url": "https://myanimelist.net/anime/genre/12/Hentai",
        }
        generated = [
            dict(mushishi, mal_id=MUSIC_ID, title="Generated Music Video", type="Music", episodes=1),
            dict(mushishi, mal_id=ADULT_ID, title="Generated Adult Title", rating="Rx - Hentai", genres=[hentai]),
            dict(
                frieren,
                mal_id=FRIEREN_2_ID,
                title="Sousou no Frieren 2nd Season",
                status="Not yet aired",
                episodes=None,
                score=None,
                scored_by=None,
                aired={"from": "2026-01-16T00:00:00+00:00", "to": None},
                year=2026,
            ),
            dict(mushishi, mal_id=TORIKO_ID, title="Toriko", episodes=147, members=180_000),
        ]
        if self.later:
            generated[2] = dict(generated[2], status="Currently Airing", episodes=10, airing=True)
            generated += [
                dict(frieren, mal_id=FRIEREN_3_ID, title="Sousou no Frieren 3rd Season", status="Not yet aired"),
                dict(mushishi, mal_id=NO_RELATIONS_ID, title="Relations Gone Missing"),
            ]
            entries[457] = dict(mushishi, members=mushishi["members"] + 1_000)
        entries.update((e["mal_id"], e) for e in generated)
        return [entries[mal_id] for mal_id in sorted(entries)]

    def catalogue_page(self, page: int) -> dict[str, Any]:
        entries = self.catalogue()
        last = (len(entries) + PER_PAGE - 1) // PER_PAGE
        chunk = entries[(page - 1) * PER_PAGE : page * PER_PAGE]
        return {
            "pagination": {
                "last_visible_page": last,
                "has_next_page": page < last,
                "current_page": page,
                "items": {"count": len(chunk), "total": len(entries), "per_page": PER_PAGE},
            },
            "data": chunk,
        }

    def relations(self, mal_id: int) -> list[dict[str, Any]]:
        """The relation groups of an anime: the recorded ones of the /full files, generated ones
        for the generated titles (mirroring the recorded links), none for the rest."""
        if mal_id in FULL_FILES:
            return self.jikan(FULL_FILES[mal_id])["data"]["relations"]
        if mal_id == FRIEREN_2_ID:
            groups = [{"relation": "Prequel", "entry": [_link(FRIEREN_ID, "Sousou no Frieren")]}]
            if self.later:
                groups.append({"relation": "Sequel", "entry": [_link(FRIEREN_3_ID, "Sousou no Frieren 3rd Season")]})
            return groups
        if mal_id == FRIEREN_3_ID:
            return [{"relation": "Prequel", "entry": [_link(FRIEREN_2_ID, "Sousou no Frieren 2nd Season")]}]
        if mal_id == TORIKO_ID:
            return [
                {"relation": "Adaptation", "entry": [_link(10049, "Toriko", "manga")]},
                {"relation": "Character", "entry": [_link(ONE_PIECE_ID, "One Piece")]},
            ]
        return []

    def relations_reply(self, mal_id: int) -> Reply:
        if self.bench_pages:
            return Reply(200, self.bench_relations(mal_id))
        known = {e["mal_id"] for e in self.catalogue()}
        if mal_id not in known or mal_id == NO_RELATIONS_ID:
            return _jikan_404(f"https://myanimelist.net/anime/{mal_id}/")
        if mal_id == RELATIONS_THROTTLED_ID and self.hit("jikan-relations-429") == 1:
            return Reply(
                429,
                _json({"status": 429, "type": "RateLimitException", "message": "You are being rate limited"}),
                headers={"Retry-After": "1"},
            )
        if mal_id == RELATIONS_FLAKY_ID and self.hit("jikan-relations-500") == 1:
            return Reply(500, _json({"status": 500, "type": "InternalException", "message": "Unable to parse"}))
        return Reply(200, _json({"data": self.relations(mal_id)}))

    # ------------------------------------------------------------------ MyAnimeList

    def mal_reply(self, path: str, query: dict[str, str]) -> Reply:
        if path == "/robots.txt":
            return Reply(200, ROBOTS, "text/plain")
        if path == "/topanime.php":
            offset = int(query.get("limit", "0") or 0)
            if self.bench_pages:
                return Reply(200, self.bench_mal_page(offset), HTML)
            if offset == 0:
                return Reply(200, self.file("mal/topanime-0.html"), HTML)
            return Reply(200, self.mal_list_page(offset), HTML)
        match = re.fullmatch(r"/anime/(\d+)(?:/[^/]+)?", path)
        if not match:
            return Reply(404, b"<html><body>404 Not Found</body></html>", HTML)
        return self.mal_anime(int(match.group(1)))

    def mal_anime(self, mal_id: int) -> Reply:
        recorded = {
            6: "mal/anime-6-trigun.html",
            21: "mal/anime-21-one-piece-2022.html",
            57181: "mal/anime-57181-ao-no-hako.html",
            1: "mal/anime-1-cowboy-bebop-stats.html",  # a page without synopsis
        }
        if self.bench_pages and mal_id >= 1_000_000:
            templates = ("mal/anime-6-trigun.html", "mal/anime-57181-ao-no-hako.html", "mal/anime-6-trigun-2022.html")
            return Reply(200, self.varied_page(mal_id, f"Bench Anime {mal_id}", 500_000, templates[mal_id % 3]), HTML)
        if mal_id in recorded:
            return Reply(200, self.file(recorded[mal_id]), HTML)
        if mal_id == MISSING_ID:
            return Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>", HTML)
        if mal_id == THROTTLED_ID and self.hit("mal-429") == 1:
            return Reply(429, b"Too Many Requests", "text/plain", {"Retry-After": "1"})
        if mal_id == FLAKY_ID and self.hit("mal-500") == 1:
            return Reply(500, b"Internal Server Error", "text/plain")
        trigun = self.file("mal/anime-6-trigun.html")
        if mal_id == TRUNCATED_ID:
            page = self.varied_page(mal_id, "Truncated Page", 300_000)
            return Reply(200, page[: page.index(b"Duration:</span>")], HTML)
        if mal_id == HEADLESS_ID:
            return Reply(200, trigun[: trigun.index(b"<title>")], HTML)
        title = self.list_titles().get(mal_id, f"Generated Anime {mal_id}")
        return Reply(200, self.varied_page(mal_id, title, self.list_members().get(mal_id, 500_000)), HTML)

    def varied_page(self, mal_id: int, title: str, members: int, template: str = "mal/anime-6-trigun.html") -> bytes:
        """A real detail page with another id, title and member count."""
        page = self.file(template).decode()
        head = re.search(r'og:url" content="https://myanimelist.net/anime/(\d+)/([^/"]+)', page)
        assert head is not None, template
        old_id, old_slug = head.group(1), head.group(2)
        old_title = re.search(r'og:title" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        slug = re.sub(r"\W+", "_", title).strip("_") or "x"
        page = page.replace(f"/anime/{old_id}/{old_slug}", f"/anime/{mal_id}/{slug}")
        page = page.replace(f"/anime/{old_id}/", f"/anime/{mal_id}/").replace(f"aid={old_id}&", f"aid={mal_id}&")
        page = page.replace(f"<strong>{old_title}</strong>", f"<strong>{title}</strong>")
        page = page.replace(f'og:title" content="{old_title}"', f'og:title" content="{title}"')
        page = re.sub(r"(Members:</span>\s*)[\d,]+", rf"\g<1>{members:,}", page)
        return page.encode()

    def _top_rows(self) -> list[tuple[int, str, int]]:
        if "_rows" not in self._cache:
            html = self.file("mal/topanime-0.html").decode()
            rows = []
            for block in html.split('<tr class="ranking-list">')[1:]:
                mal_id = int(re.search(r"/anime/(\d+)/", block).group(1))  # type: ignore[union-attr]
                title = re.search(r'class="hoverinfo_trigger">([^<]+)</a>', block).group(1)  # type: ignore[union-attr]
                members = int(re.search(r"([\d,]+) members", block).group(1).replace(",", ""))  # type: ignore[union-attr]
                rows.append((mal_id, title, members))
            self._cache["_rows"] = json.dumps(rows).encode()
        return [tuple(r) for r in json.loads(self._cache["_rows"])]  # type: ignore[misc]

    def list_titles(self) -> dict[int, str]:
        return {mal_id: title for mal_id, title, _ in self._top_rows()}

    def list_members(self) -> dict[int, int]:
        return {mal_id: members for mal_id, _, members in self._top_rows()}

    def row_template(self) -> str:
        html = self.file("mal/topanime-0.html").decode()
        start = html.index('<tr class="ranking-list">')
        return html[start : html.index("</tr>", start) + len("</tr>")]

    def list_row(self, rank: int, mal_id: int, title: str, members: int) -> str:
        row = self.row_template()
        slug = re.sub(r"\W+", "_", title).strip("_")
        row = re.sub(r"/anime/\d+/[^\"]+", f"/anime/{mal_id}/{slug}", row)
        row = re.sub(r"(area|info|a)\d+", rf"\g<1>{mal_id}", row)
        row = re.sub(r'(top-anime-rank-text rank\d+">)\d+', rf"\g<1>{rank}", row)
        row = re.sub(r'(class="hoverinfo_trigger">)[^<]+', rf"\g<1>{title}", row)
        row = re.sub(r"Anime: [^\"]+", f"Anime: {title}", row)
        return re.sub(r"[\d,]+ members", f"{members:,} members", row)

    def list_page(self, rows: list[str]) -> bytes:
        html = self.file("mal/topanime-0.html").decode()
        start = html.index('<tr class="ranking-list">')
        end = html.rindex("</tr>", 0, html.index("</table>", start)) + len("</tr>")
        return (html[:start] + "\n".join(rows) + html[end:]).encode()

    def mal_list_page(self, offset: int) -> bytes:
        """limit=50: Trigun, One Piece, Ao no Hako, Cowboy Bebop and the generated cases, then one
        under the threshold; the page after: nobody above it (the end of the walk)."""
        if offset == 50:
            cases = [
                (6, "Trigun", 822_213),
                (21, "One Piece", 1_881_078),
                (57181, "Ao no Hako", 128_442),
                (THROTTLED_ID, "Throttled Once", 120_000),
                (FLAKY_ID, "Flaky Once", 110_000),
                (TRUNCATED_ID, "Truncated Page", 105_000),
                (HEADLESS_ID, "Headless Page", 104_000),
                (MISSING_ID, "Missing Page", 103_000),
                (FORBIDDEN_ID, "Forbidden Page", 102_000),
                (900009, "Under The Threshold", LOW_MEMBERS),
            ]
        else:
            cases = [(900010 + i, f"Far Under {i}", 1_000 - i) for i in range(3)]
        return self.list_page([self.list_row(offset + i + 1, *case) for i, case in enumerate(cases)])

    # ------------------------------------------------------------------ benchmark

    def bench_id(self, page: int, row: int) -> int:
        return 1_000_000 + (page - 1) * self.bench_rows + row

    def bench_jikan_page(self, page: int) -> bytes:
        if page > self.bench_pages:
            return _json({"pagination": {"has_next_page": False, "current_page": page}, "data": []})
        sources = [self.list_entry(f"anime-{i}-full.json") for i in (1, 21, 5114, 52991)]
        sources.append(self.jikan("anime-457.json")["data"])
        entries = []
        for row in range(self.bench_rows):
            mal_id = self.bench_id(page, row)
            base = sources[mal_id % len(sources)]
            entries.append(dict(base, mal_id=mal_id, title=f"{base['title']} #{mal_id}", members=10_000_000 - mal_id))
        return _json(
            {
                "pagination": {
                    "last_visible_page": self.bench_pages,
                    "has_next_page": page < self.bench_pages,
                    "current_page": page,
                    "items": {
                        "count": len(entries),
                        "total": self.bench_pages * self.bench_rows,
                        "per_page": self.bench_rows,
                    },
                },
                "data": entries,
            }
        )

    def bench_relations(self, mal_id: int) -> bytes:
        """Each generated anime is the sequel of the one before it on its page."""
        row = (mal_id - 1_000_000) % self.bench_rows
        if row == 0:
            return _json({"data": []})
        prequel = _link(mal_id - 1, f"Bench Anime {mal_id - 1}")
        return _json({"data": [{"relation": "Prequel", "entry": [prequel]}]})

    def bench_mal_page(self, offset: int) -> bytes:
        page = offset // self.bench_rows + 1
        if page > self.bench_pages:
            return self.list_page([])
        rows = [
            self.list_row(
                offset + row + 1,
                self.bench_id(page, row),
                f"Bench Anime {self.bench_id(page, row)}",
                10_000_000 - offset - row,
            )
            for row in range(self.bench_rows)
        ]
        return self.list_page(rows)


def _handler(sources: FakeSources) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            sources.user_agents.add(self.headers.get("User-Agent", ""))
            reply = sources.reply(self.path)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler


@contextmanager
def serve(fixtures: Path, *, port: int = 0, **options: Any) -> Iterator[tuple[str, FakeSources]]:
    """Run the fake sources on 127.0.0.1 (an ephemeral port by default) in a thread; yields the
    base URL (MyAnimeList at /, Jikan at /v4) and the server's state."""
    sources = FakeSources(fixtures, **options)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(sources))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sources
    finally:
        server.shutdown()
        server.server_close()
