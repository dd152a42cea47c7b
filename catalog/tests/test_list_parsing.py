"""The list export is read as a stream: every bound is checked while reading (element bombs, deep
nesting, long tags, new names, too many entries are refused early, holding little memory), the
largest real export still reads, any encoding Python knows imports and an unknown one is a 400
naming it, and ids or numbers out of the database's range never reach it."""

from __future__ import annotations

import codecs
import io
import tracemalloc

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from catalog.lists import samples
from catalog.lists.parsing import MAX_ENTRIES, MAX_XML_BYTES, ListFileError, list_upload_parse
from catalog.models import AnimeListEntry

# Japanese titles as a Japanese user's export has them (MyAnimeList keeps the romanised title;
# an export re-saved by a Japanese tool or another site carries the Japanese one).
JAPANESE = {457: "蟲師", 4081: "夏目友人帳", 1535: "デスノート", 9253: "シュタインズ・ゲート"}


def japanese_export(encoding: str) -> bytes:
    return samples.export_sample(
        len(JAPANESE), ids=list(JAPANESE), titles=list(JAPANESE.values()), encoding=encoding, user_name="ユーザー"
    )


def peak_memory(data: bytes) -> tuple[int, str]:
    """The peak of memory allocated while parsing ``data`` (tracemalloc: Python objects and
    expat's buffers, which pyexpat allocates through Python's allocator), and the refusal."""
    tracemalloc.start()
    try:
        list_upload_parse(data)
        message = ""
    except ListFileError as error:
        message = str(error)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, message


# ---------------------------------------------------------------------------- bounds, while reading

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (samples.element_bomb, "The XML has more than 1,000 elements outside its entries"),
        (samples.deep_nesting, "The XML is nested more than 8 levels deep"),
        (samples.entry_bomb, f"The list has more than {MAX_ENTRIES:,} entries; at most {MAX_ENTRIES:,} are accepted."),
        (samples.long_tag, "The XML has a tag or comment longer than 1 MB"),
        (samples.many_names, "The XML uses more than 256 different names"),
    ],
    ids=["element-bomb", "deep-nesting", "entry-bomb", "long-tag", "many-names"],
)
def test_it_refuses_a_hostile_file_while_reading_it_holding_little_memory(sample, message: str):
    data = sample()
    assert len(data) < 3 * MB  # each a small upload
    peak, refusal = peak_memory(data)
    assert refusal.startswith(message), refusal
    # Before: the whole inflated XML (40 MB) and then its tree (+0.9 GB for the element bomb,
    # +1.5 GB for the deep nesting) were held before anything was counted. Now under 0.6 MB, and
    # 3.3 MB for the long tag (expat holds the first MB of it).
    assert peak < 8 * MB, f"{peak / MB:.1f} MB"


def test_it_caps_the_elements_of_an_entry_and_of_the_file():
    with pytest.raises(ListFileError, match="An entry has more than 48 elements"):
        list_upload_parse(samples.field_bomb(entries=2, fields=48))
    list_upload_parse(samples.field_bomb(entries=2, fields=47))  # 48 with the entry: accepted
    with pytest.raises(ListFileError, match="The XML has more than 1,000,000 elements"):
        list_upload_parse(samples.field_bomb(entries=25_000, fields=47))


def test_it_refuses_xml_inflating_past_the_bound_even_when_well_formed():
    """The bound holds for a file that parses fine all the way (whitespace inside the root)."""
    data = samples.gzipped([b"<myanimelist>", *(b" " * MB for _ in range(MAX_XML_BYTES // MB + 1))])
    peak, refusal = peak_memory(data)
    assert refusal.startswith(f"The file inflates to more than {MAX_XML_BYTES // MB} MB of XML")
    assert peak < 4 * MB, f"{peak / MB:.1f} MB"


def test_the_largest_real_export_reads_within_the_bounds():
    """30,000 entries in MyAnimeList's format, 23 fields each: the figures behind the bounds."""
    xml = samples.export_sample(MAX_ENTRIES)
    assert 25 * MB < len(xml) < MAX_XML_BYTES
    parsed = list_upload_parse(samples.gzip_of(xml))
    assert len(parsed.entries) == MAX_ENTRIES and parsed.skipped == 0 and parsed.user_name == "example_user"
    first, last = parsed.entries[0], parsed.entries[-1]
    assert (first.mal_id, first.title, first.status, first.score, first.watched_episodes) == (
        1,
        "Sample Anime Title 000000: The Subtitle",
        "completed",
        1,
        12,
    )
    assert last.mal_id == MAX_ENTRIES


def test_it_still_refuses_dtds_entities_and_undeclared_entities():
    for content, message in [
        (b'<!DOCTYPE myanimelist SYSTEM "http://evil.example/x.dtd"><myanimelist/>', "declares a DTD or entities"),
        (b"<myanimelist><anime><series_title>&lol;</series_title></anime></myanimelist>", "The XML is malformed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd">%p;]><x/>', "DTDForbidden"),
    ]:
        with pytest.raises(ListFileError, match=message):
            list_upload_parse(content)


def test_it_keeps_only_the_needed_text_of_an_entry():
    long_comment = "c" * 2 * MB
    xml = samples.export_sample(1).replace(
        b"<my_comments><![CDATA[]]></my_comments>", f"<my_comments>{long_comment}</my_comments>".encode()
    )
    peak, refusal = peak_memory(xml)
    assert refusal == ""
    assert peak < MB  # the 2 MB comment was dropped piece by piece, never held
    title = "T" * 5000
    parsed = list_upload_parse(samples.export_sample(1, titles=[title]))
    assert parsed.entries[0].title == title[:255]


# ---------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding", ["Shift_JIS", "EUC-JP", "ISO-2022-JP", "UTF-16", "UTF-8"])
def test_it_reads_an_export_in_any_encoding_python_knows(encoding: str):
    data = japanese_export(encoding)
    if encoding == "UTF-16":
        assert data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    parsed = list_upload_parse(samples.gzip_of(data))
    assert {e.mal_id: e.title for e in parsed.entries} == JAPANESE
    assert parsed.user_name == "ユーザー"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'<?xml version="1.0" encoding="x-bogus"?><myanimelist/>', "The XML declares an unknown encoding 'x-bogus'."),
        (b'<?xml version="1.0" encoding="base64"?><myanimelist/>', "The XML declares an unknown encoding 'base64'."),
        (b'<?xml version="1.0" encoding="UTF-16"?><myanimelist/>', "declares the encoding 'UTF-16', but the file"),
        (
            b'<?xml version="1.0" encoding="Shift_JIS"?><myanimelist>\x82\xff</myanimelist>',
            "The file is not valid shift_jis text (illegal multibyte sequence).",
        ),
        (b"<myanimelist><anime>\xff\xfe</anime></myanimelist>", "The file is not valid utf-8 text"),
    ],
    ids=["unknown", "not-a-text-codec", "not-written-in-it", "wrong-bytes", "bad-utf8"],
)
def test_it_refuses_an_unknown_or_wrong_encoding_by_name(content: bytes, message: str):
    with pytest.raises(ListFileError) as error:
        list_upload_parse(content)
    assert message in str(error.value)


def _file(content: bytes, name: str = "animelist.xml") -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def test_a_japanese_users_export_imports_through_the_page_and_the_api(catalog, client: Client):
    page = client.post("/my-list/", {"file": _file(japanese_export("EUC-JP"))}, follow=True)
    assert "Imported 4 entries." in page.content.decode()
    response = client.post("/api/list/", {"file": _file(samples.gzip_of(japanese_export("Shift_JIS")), "a.xml.gz")})
    assert response.status_code == 201, response.content
    entries = {e["mal_id"]: e["title"] for e in response.json()["entries"]}
    assert entries == JAPANESE


def test_an_unknown_encoding_is_a_400_naming_it(catalog, client: Client):
    content = b'<?xml version="1.0" encoding="x-bogus"?><myanimelist/>'
    page = client.post("/my-list/", {"file": _file(content)})
    assert page.status_code == 400
    assert "unknown encoding &#x27;x-bogus&#x27;" in page.content.decode()
    client.force_login(get_user_model().objects.create_user("bogus", password="a-long-password-8"))
    response = client.post("/api/list/", {"file": _file(content)})
    assert response.status_code == 400
    assert response.json() == {
        "file": [
            "The XML declares an unknown encoding 'x-bogus'. MyAnimeList writes UTF-8: upload its export as it is."
        ]
    }


# ---------------------------------------------------------------------------- numbers out of range

HUGE_IDS = [str(2**63), str(2**64), "9" * 30, "1e400", "-5", "nan", str(2**31)]


def test_ids_and_numbers_out_of_range_are_skipped_not_stored():
    xml = samples.export_sample(len(HUGE_IDS) + 1, ids=[*HUGE_IDS, 1535])
    xml = xml.replace(b"<my_watched_episodes>", f"<my_watched_episodes>{2**63}".encode())
    parsed = list_upload_parse(xml)
    assert [e.mal_id for e in parsed.entries] == [1535] and parsed.skipped == len(HUGE_IDS)
    assert parsed.entries[0].watched_episodes == 0  # beyond the column: unknown


def test_an_export_with_huge_ids_imports_for_a_visitor_and_an_account(catalog, client: Client):
    """Before: a 500 for a signed-in user (the id overflowed the column) and, for a visitor, on
    every later search or "more like this" with ``list=hide`` (the id reached the index)."""
    xml = samples.export_sample(2, ids=[2**63, 1535])
    assert client.post("/my-list/", {"file": _file(xml)}).status_code == 302
    assert [e["mal_id"] for e in client.get("/api/list/").json()["entries"]] == [1535]
    assert client.get("/api/anime/", {"list": "hide", "page_size": 1}).status_code == 200
    user = get_user_model().objects.create_user("huge", password="a-long-password-9")
    client.force_login(user)
    assert client.post("/api/list/", {"file": _file(xml)}).status_code == 201
    assert list(AnimeListEntry.objects.filter(anime_list__owner=user).values_list("mal_id", flat=True)) == [1535]


def test_the_benchmark_reports_each_refusal_and_its_cost(capsys):
    import json

    from django.core.management import call_command

    call_command("list_parse_bench", "--via", "parse", "--cases", "element-bomb,deep-nesting", "--json")
    report = json.loads(capsys.readouterr().out)
    assert [(row["case"], row["via"]) for row in report] == [("element-bomb", "parse"), ("deep-nesting", "parse")]
    assert report[0]["outcome"].startswith("refused: The XML has more than 1,000 elements outside its entries")
    assert report[1]["outcome"].startswith("refused: The XML is nested more than 8 levels deep")
    assert all(row["gzip_bytes"] < 64 * 1024 and 0 <= row["rss_growth_mb"] < 100 for row in report)
