"""The visitor's imported MyAnimeList list: safe parsing, the ``list`` filter everywhere, badges,
recommendations with reasons, privacy."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from catalog.lists.parsing import MAX_XML_BYTES, ListFileError, list_upload_parse
from catalog.lists.recommend import Weights, catalogue_table, ranked_ids, taste_of
from catalog.lists.selectors import SESSION_KEY, Entry
from catalog.models import Anime, AnimeList, AnimeListEntry
from catalog.search.engine import engine
from catalog.search.index import DENSE, index_base

DATA = Path(__file__).parent / "data"
EXPORT = DATA / "animelist_1764567890_-_1234567.xml"
EXPORT_GZ = DATA / "animelist_1764567890_-_1234567.xml.gz"
ON_LIST = {457, 4081, 1535, 9253, 16498, 21, 5114, 1, 11061}
NOT_IN_CATALOGUE = {99999001, 99999002}


def export_xml(statuses: dict[int, str]) -> bytes:
    """A minimal export in MyAnimeList's format: one entry per id with the given status."""
    entries = "".join(
        f"<anime><series_animedb_id>{mal_id}</series_animedb_id><series_title><![CDATA[Anime {mal_id}]]>"
        f"</series_title><my_score>0</my_score><my_status>{status}</my_status></anime>"
        for mal_id, status in statuses.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8" ?><myanimelist><myinfo><user_name>t</user_name></myinfo>{entries}</myanimelist>'.encode()


def upload(client: Client, content: bytes, name: str = "animelist.xml.gz", url: str = "/api/list/"):
    return client.post(url, {"file": _named(content, name)})


def _named(content: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


@pytest.fixture
def listed(catalog, client: Client) -> Client:
    """An anonymous visitor who imported the sample export on the page (their session points to
    it; the API then reads and writes the same list)."""
    response = upload(client, EXPORT_GZ.read_bytes(), url="/my-list/")
    assert response.status_code == 302, response.content
    return client


# ---------------------------------------------------------------------------- parsing


def test_it_reads_a_real_format_export_xml_and_gz():
    for path in (EXPORT, EXPORT_GZ):
        parsed = list_upload_parse(path.read_bytes())
        assert parsed.user_name == "example_user" and parsed.skipped == 0
        by_id = {e.mal_id: e for e in parsed.entries}
        assert set(by_id) == ON_LIST | NOT_IN_CATALOGUE
        assert (by_id[457].status, by_id[457].score, by_id[457].title) == ("completed", 9, "Mushishi")
        assert (by_id[16498].status, by_id[16498].score) == ("dropped", 4)
        assert by_id[21].status == "plan-to-watch" and by_id[21].score == 0
        assert by_id[5114].status == "watching" and by_id[5114].watched_episodes == 30
        assert by_id[1].status == "on-hold"
        assert by_id[99999002].title == "Hoshi no & Tsuki <Special>"  # CDATA kept as text


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<myanimelist><anime><series_animedb_id>1</series_animedb_id><series_title>&lol3;</series_title>
<my_status>Completed</my_status></anime></myanimelist>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<myanimelist><anime><series_title>&xxe;</series_title></anime></myanimelist>"""


def _gzip_bomb() -> bytes:
    """A few hundred KB of gzip that would inflate past the XML limit."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"<" + b" " * (1024 * 1024 - 1)
    parts = [compressor.compress(chunk) for _ in range(MAX_XML_BYTES // len(chunk) + 8)]
    return b"".join(parts) + compressor.flush()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<myanimelist><anime><series_animedb_id>1</series_animedb_id>", "The XML is malformed"),
        (BILLION_LAUGHS, "declares a DTD or entities"),
        (EXTERNAL_ENTITY, "declares a DTD or entities"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "This is not an XML file"),
        (b"Name,Score\nMushishi,9\n", "This is not an XML file"),
        (b"<rss><channel/></rss>", "not a MyAnimeList list export"),
        (gzip.compress(b"<myanimelist>")[:-8], "cut short"),
        (b"", "The file is empty"),
    ],
    ids=["malformed", "billion-laughs", "external-entity", "png", "csv", "other-xml", "truncated-gzip", "empty"],
)
def test_it_refuses_a_bad_file_with_a_clear_error(content: bytes, message: str):
    with pytest.raises(ListFileError, match=message):
        list_upload_parse(content)


def test_it_refuses_a_gzip_bomb_without_inflating_it():
    bomb = _gzip_bomb()
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ListFileError, match="inflates to more than"):
        list_upload_parse(bomb)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<myanimelist><anime>", "The XML is malformed"),
        (BILLION_LAUGHS, "declares a DTD or entities"),
        (b"just some text", "This is not an XML file"),
        ("gzip-bomb", "inflates to more than"),
        ("too-large", "larger than 5 MB"),
    ],
)
def test_a_refused_upload_leaves_the_previous_list_unchanged(listed: Client, content, message: str):
    before = listed.get("/api/list/").json()
    if content == "gzip-bomb":
        content = _gzip_bomb()
    elif content == "too-large":
        content = b"<myanimelist>" + b" " * (6 * 1024 * 1024)
    response = upload(listed, content)
    assert response.status_code == 400
    assert message in response.json()["file"][0]
    assert listed.get("/api/list/").json() == before
    page = upload(listed, content, url="/my-list/")
    assert page.status_code == 400
    html = page.content.decode()
    assert message.split(" (")[0] in html and "Your list is unchanged." in html


# ---------------------------------------------------------------------------- import


def test_it_keeps_an_anonymous_visitor_s_list_in_the_session(listed: Client):
    data = listed.get("/api/list/").json()
    summary = data["summary"]
    assert summary["entries"] == 11 and summary["in_catalogue"] == 9 and summary["not_in_catalogue"] == 2
    assert summary["stored_in"] == "session"
    assert summary["by_status"] == {"watching": 1, "completed": 6, "on-hold": 1, "dropped": 1, "plan-to-watch": 2}
    assert sorted(summary["not_in_catalogue_examples"]) == ["An OVA Nobody Watched", "Hoshi no & Tsuki <Special>"]
    assert {e["mal_id"] for e in data["entries"] if not e["in_catalogue"]} == NOT_IN_CATALOGUE
    # The entries live in the table; the session holds only the list's id, and the list expires
    # with the session.
    stored = AnimeList.objects.get()
    assert stored.owner is None and stored.entries.count() == 11
    age = (stored.expires_at - stored.imported_at).total_seconds()
    assert age == pytest.approx(settings.SESSION_COOKIE_AGE, abs=5)
    assert summary["expires_at"] == stored.expires_at.isoformat()
    assert dict(listed.session) == {SESSION_KEY: stored.pk}


def test_it_replaces_the_list_on_reimport_and_clears_it(listed: Client):
    smaller = EXPORT.read_bytes().replace(
        b"<series_animedb_id>457</series_animedb_id>", b"<series_animedb_id>0</series_animedb_id>"
    )
    assert upload(listed, smaller, name="animelist.xml").status_code == 201
    ids = {e["mal_id"] for e in listed.get("/api/list/").json()["entries"]}
    assert 457 not in ids and len(ids) == 10
    assert listed.delete("/api/list/").status_code == 204
    assert listed.get("/api/list/").status_code == 404


def test_the_page_imports_and_reports_the_entries_not_in_the_catalogue(catalog, client: Client):
    response = client.post("/my-list/", {"file": _named(EXPORT.read_bytes(), "animelist.xml")}, follow=True)
    html = response.content.decode()
    assert "Imported 11 entries (2 not in our catalogue, kept for later)." in html
    assert "An OVA Nobody Watched" in html and 'id="list-summary"' in html
    response = client.post("/my-list/clear/", follow=True)
    assert "Your list is cleared." in response.content.decode() and 'id="list-summary"' not in response.content.decode()


def test_uploads_never_touch_the_disk(catalog, client: Client, tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1  # Django's default handler would spill anything to disk now
    assert upload(client, EXPORT.read_bytes(), name="animelist.xml", url="/my-list/").status_code == 302
    assert AnimeList.objects.get().entry_count == 11
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- the list filter


def test_browse_hides_the_list_or_keeps_only_plan_to_watch(listed: Client):
    everything = listed.get("/api/anime/", {"page_size": 100}).json()
    shown = {a["mal_id"] for a in everything["results"]}
    assert {21, 1535, 16498} <= shown
    hidden = listed.get("/api/anime/", {"page_size": 100, "list": "hide"}).json()
    assert hidden["count"] == everything["count"] - len(ON_LIST)
    assert not {a["mal_id"] for a in hidden["results"]} & ON_LIST
    unseen = listed.get("/api/anime/", {"list": "unseen"}).json()
    assert unseen["count"] == everything["count"] - 7  # completed 4, watching, on hold, dropped
    planned = listed.get("/api/anime/", {"list": "plan-to-watch"}).json()
    assert {a["mal_id"] for a in planned["results"]} == {21, 11061}
    page = listed.get("/anime/", {"list": "hide"}).content.decode()
    assert "/anime/1535/" not in page and 'name="list"' in page


def test_search_and_similar_hide_the_list_inside_the_index(search_index: str, listed: Client):
    plain = listed.get("/api/search/", {"q": "death note", "limit": 5}).json()
    assert plain["results"][0]["anime"]["mal_id"] == 1535
    hidden = listed.get("/api/search/", {"q": "death note", "limit": 5, "list": "hide"}).json()
    assert hidden["count"] == 5 and 1535 not in {r["anime"]["mal_id"] for r in hidden["results"]}
    bad = listed.get("/api/search/", {"q": "death note", "list": "seen"})
    assert bad.status_code == 400 and "list" in bad.json()
    # "More like this": put the two nearest anime on the list, then hide them.
    nearest = [r["anime"]["mal_id"] for r in listed.get("/api/anime/4081/similar/", {"limit": 20}).json()["results"]]
    assert upload(listed, export_xml({nearest[0]: "Completed", nearest[1]: "Dropped"}), name="a.xml").status_code == 201
    similar = listed.get("/api/anime/4081/similar/", {"limit": 20, "list": "hide"}).json()
    shown = [r["anime"]["mal_id"] for r in similar["results"]]
    assert similar["count"] == 20 and not {nearest[0], nearest[1]} & set(shown)
    assert shown[:18] == nearest[2:20]
    page = listed.get("/anime/4081/", {"list": "hide"}).content.decode()
    assert f"/anime/{nearest[0]}/" not in page and "Show anime on my list too" in page


def test_cards_show_the_status_and_the_user_s_score(search_index: str, listed: Client):
    html = listed.get("/search/", {"q": "steins gate"}).content.decode()
    assert "list-badge--completed" in html and "Completed · you gave 10" in html
    api = listed.get("/api/search/", {"q": "steins gate", "limit": 1}).json()["results"][0]["anime"]
    assert api["my_list"] == {"kind": "entry", "status": "completed", "label": "Completed", "score": 10}
    assert listed.get("/api/anime/16498/").json()["my_list"]["status"] == "dropped"
    assert Client().get("/api/anime/16498/").json()["my_list"] is None
    detail = listed.get("/anime/16498/").content.decode()
    assert "Dropped · you gave 4" in detail and "Hide anime on my list" in detail
    browse = listed.get("/anime/", {"list": "plan-to-watch"}).content.decode()
    assert browse.count("Plan to Watch") >= 2


def test_a_sequel_of_something_completed_is_marked(search_index: str, listed: Client):
    from catalog.models import Anime

    steins = Anime.objects.get(mal_id=9253)
    sequel = Anime.objects.filter(franchise_key=steins.franchise_key, year__gt=steins.year).exclude(mal_id=9253).first()
    assert sequel is not None
    html = listed.get(f"/anime/{sequel.mal_id}/").content.decode()
    assert f"Sequel of {steins.title} (completed)" in html


# ---------------------------------------------------------------------------- recommendations


def test_the_taste_pulls_towards_high_ratings_and_away_from_low_ones():
    entries = {
        1: Entry("completed", 10),
        2: Entry("completed", 8),
        3: Entry("completed", 6),
        4: Entry("dropped", 3),
        5: Entry("dropped", 0),
        6: Entry("plan-to-watch", 0),
    }
    taste = taste_of(entries)
    assert set(taste.positives) == {1, 2} and taste.positives[1] > taste.positives[2]
    assert set(taste.negatives) == {4, 5}
    unscored = taste_of({1: Entry("completed", 0), 2: Entry("watching", 0)})
    assert set(unscored.positives) == {1}


def test_it_recommends_unlisted_anime_one_per_franchise_with_reasons(search_index: str, listed: Client):
    data = listed.get("/api/recommendations/", {"limit": 10}).json()
    assert data["count"] == 10 and data["degraded"] is False and data["liked"] == 3
    ids = [r["anime"]["mal_id"] for r in data["results"]]
    assert not set(ids) & ON_LIST
    from catalog.models import Anime

    franchises = [Anime.objects.get(mal_id=m).franchise_key for m in ids]
    assert len(set(franchises)) == len(franchises)
    liked_titles = {"Mushi-Shi", "Natsume's Book of Friends", "Steins;Gate", "Mushishi", "Natsume Yuujinchou"}
    for result in data["results"]:
        assert result["reason"].startswith("Because you rated ")
        assert {b["mal_id"] for b in result["because"]} <= {457, 4081, 9253}
        assert all(b["title"] in liked_titles and b["score"] in (8, 9, 10) for b in result["because"])
    filtered = listed.get("/api/recommendations/", {"type": "Movie", "limit": 5}).json()
    assert filtered["count"] == 5 and {r["anime"]["type"] for r in filtered["results"]} == {"Movie"}
    page = listed.get("/for-you/").content.decode()
    assert page.count('class="recommendation"') == 12 and "Because you rated" in page


def test_liking_something_changes_what_comes_first(search_index: str):
    """Natsume's fan and a Death Note fan get different first recommendations, each closer to
    their own liked anime."""
    gentle = ranked_ids({4081: Entry("completed", 10), 1535: Entry("completed", 4)}, limit=5, weights=Weights())[0]
    dark = ranked_ids({1535: Entry("completed", 10), 4081: Entry("completed", 4)}, limit=5, weights=Weights())[0]
    assert [m for m, *_ in gentle] != [m for m, *_ in dark]
    # One liked anime each (the other is rated well below the list's mean): it is the closest
    # liked anime of every recommendation.
    assert [closest for *_, closest in gentle] == [[4081]] * 5
    assert [closest for *_, closest in dark] == [[1535]] * 5
    ids = [m for m, *_ in gentle + dark]
    with engine().reading(search_index) as collection:
        vector = {r.id: np.asarray(r.vectors[DENSE]) for r in collection.retrieve([4081, 1535, *ids], vectors=[DENSE])}

    def closeness(rows: list[tuple[int, float, list[int]]], liked: int) -> list[float]:
        return [float(vector[m] @ vector[liked]) for m, *_ in rows]

    for rows, liked, other in ((gentle, 4081, 1535), (dark, 1535, 4081)):
        assert closeness(rows, liked)[0] > closeness(rows, other)[0]
        assert np.mean(closeness(rows, liked)) > np.mean(closeness(rows, other))


def test_for_you_asks_for_a_list_first(catalog, client: Client):
    assert "Import it" in client.get("/for-you/").content.decode()
    assert client.get("/api/recommendations/").status_code == 404


# ---------------------------------------------------------------------------- privacy


def test_a_list_is_visible_only_to_its_owner(catalog, client: Client):
    User = get_user_model()
    alice = User.objects.create_user("alice", password="a-long-password-1")
    User.objects.create_user("bob", password="a-long-password-2")
    client.force_login(alice)
    assert upload(client, EXPORT_GZ.read_bytes()).status_code == 201
    assert client.get("/api/list/").json()["summary"]["stored_in"] == "account"
    assert AnimeListEntry.objects.filter(anime_list__owner=alice).count() == 11

    bob = Client()
    bob.login(username="bob", password="a-long-password-2")
    assert bob.get("/api/list/").status_code == 404
    assert "Import it" in bob.get("/for-you/").content.decode()
    assert bob.get("/api/anime/", {"list": "hide"}).json()["count"] == client.get("/api/anime/").json()["count"]
    assert "list-summary" not in bob.get("/my-list/").content.decode()
    stranger = Client()
    assert stranger.get("/api/list/").status_code == 404
    assert "you gave" not in stranger.get("/anime/457/").content.decode()
    # Clearing is the owner's own: bob's DELETE leaves alice's list.
    assert bob.delete("/api/list/").status_code == 204
    assert AnimeList.objects.filter(owner=alice).exists()


def test_the_admin_shows_counts_not_lists(catalog, admin_client: Client, client: Client):
    User = get_user_model()
    carol = User.objects.create_user("carol", password="a-long-password-3")
    client.force_login(carol)
    upload(client, EXPORT_GZ.read_bytes())
    listing = admin_client.get("/admin/catalog/animelist/").content.decode()
    assert "carol" in listing and ">11<" in listing
    stored = AnimeList.objects.get(owner=carol)
    detail = admin_client.get(f"/admin/catalog/animelist/{stored.pk}/change/").content.decode()
    assert "Mushishi" not in detail and "Steins" not in detail
    assert admin_client.get("/admin/catalog/animelistentry/").status_code == 404


def test_the_api_documents_the_list_endpoints(catalog, client: Client):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    assert {"get", "post", "delete"} <= set(schema["paths"]["/api/list/"])
    assert schema["paths"]["/api/recommendations/"]["get"]["operationId"] == "recommendations"
    for path in ("/api/anime/", "/api/search/", "/api/anime/{mal_id}/similar/"):
        names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert "list" in names, path


def test_recommend_eval_prints_each_method_beside_the_baseline(search_index: str, capsys):
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("recommend_eval", "--users", "8", "--json", "--negative-weights", "0.5", "--tag-weights", "0,2")
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["lists"] <= 8
    assert set(report["methods"]) == {
        "most popular unseen",
        "disliked x0.5, popular x0, score x0, tags x0",
        "disliked x0.5, popular x0, score x0, tags x2",
        "disliked x0.5, popular x0, score x1, tags x0",
        "disliked x0.5, popular x0, score x1, tags x2",
        "disliked x0.5, popular x8, score x0, tags x0",
        "disliked x0.5, popular x8, score x0, tags x2",
        "disliked x0.5, popular x8, score x1, tags x0",
        "disliked x0.5, popular x8, score x1, tags x2",
    }
    for figures in report["methods"].values():
        assert 0 <= figures["ndcg@10"] <= figures["hit@10"] <= 1
    with pytest.raises(CommandError, match="--negative-weights: comma-separated numbers"):
        call_command("recommend_eval", "--negative-weights", "x")


def test_the_ranking_reads_the_candidates_facts_as_the_index_holds_them(search_index: str):
    # The candidates' franchise, members, score and genres come from a per-process table (not the
    # index's payloads): the same values, and a changed anime is read afresh.
    table = catalogue_table()
    with engine().reading(index_base()) as collection:
        records = collection.retrieve(
            [int(m) for m in table.ids[:200]], payload=["franchise_key", "members", "score", "genres"]
        )
    assert len(records) == 200
    for record in records:
        facts = table.facts(record.id)
        assert facts.franchise_key == record.payload["franchise_key"]
        assert facts.members == record.payload["members"]
        assert facts.score == pytest.approx(float(record.payload.get("score") or 0))
        assert list(facts.genres) == record.payload["genres"]
    # Each genre's share of the catalogue, as the catalogue's own counts give it.
    action = Anime.objects.filter(genres__name="Action").count() / Anime.objects.count()
    assert table.tag_rates["Action"] == pytest.approx(action)
    assert table.facts(10**9) is None
    anime = Anime.objects.get(mal_id=records[0].id)
    anime.members = (anime.members or 0) + 12345
    anime.save()
    assert catalogue_table().facts(anime.mal_id).members == anime.members
