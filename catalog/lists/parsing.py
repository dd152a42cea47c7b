"""Reading a MyAnimeList list export (``animelist_<time>_-_<user id>.xml.gz``), safely.

The export is XML: a ``<myanimelist>`` root with one ``<myinfo>`` (user_id, user_name, counts)
and one ``<anime>`` per entry (``series_animedb_id``, ``series_title``, ``my_score`` 0-10,
``my_status``, ``my_watched_episodes``, …). An upload is untrusted, so:

- at most ``settings.FILE_UPLOAD_MAX_BYTES`` (5 MB) are read: the site's upload handler stops
  there, and bytes handed in otherwise are checked here;
- gzip is recognised by its magic bytes and inflated in chunks; more than ``MAX_XML_BYTES`` of
  XML is refused (a "gzip bomb" of a few KB that inflates to gigabytes stops at the limit);
- the XML goes through defusedxml with DTDs forbidden: no entity declarations, so no entity
  expansion ("billion laughs") and no external entities;
- at most ``MAX_ENTRIES`` entries.

Every refusal is a ``ListFileError`` whose message says what is wrong, for the form or the 400.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from django.conf import settings

from catalog.models import ListStatus

MAX_XML_BYTES = 40 * 1024 * 1024
MAX_ENTRIES = 30_000
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 64 * 1024

# MyAnimeList writes the status as words; older exports and API dumps use the numbers.
STATUSES = {
    "watching": ListStatus.WATCHING,
    "1": ListStatus.WATCHING,
    "completed": ListStatus.COMPLETED,
    "2": ListStatus.COMPLETED,
    "on-hold": ListStatus.ON_HOLD,
    "on hold": ListStatus.ON_HOLD,
    "onhold": ListStatus.ON_HOLD,
    "3": ListStatus.ON_HOLD,
    "dropped": ListStatus.DROPPED,
    "4": ListStatus.DROPPED,
    "plan to watch": ListStatus.PLAN_TO_WATCH,
    "plantowatch": ListStatus.PLAN_TO_WATCH,
    "plan-to-watch": ListStatus.PLAN_TO_WATCH,
    "6": ListStatus.PLAN_TO_WATCH,
}


class ListFileError(ValueError):
    """The upload is not a list export we can read; the message says why."""


def max_upload_mb() -> int:
    return settings.FILE_UPLOAD_MAX_BYTES // (1024 * 1024)


def too_large() -> ListFileError:
    return ListFileError(f"The file is larger than {max_upload_mb()} MB.")


@dataclass(frozen=True)
class ParsedEntry:
    mal_id: int
    title: str
    status: str
    score: int  # 0 = not scored
    watched_episodes: int


@dataclass(frozen=True)
class ParsedList:
    user_name: str
    entries: list[ParsedEntry]
    skipped: int  # entries without a usable id or status


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    position = 0
    try:
        while position < len(data) and not inflater.eof:
            chunk = inflater.unconsumed_tail or data[position : position + CHUNK]
            if not inflater.unconsumed_tail:
                position += CHUNK
            out += inflater.decompress(chunk, MAX_XML_BYTES + 1 - len(out))
            if len(out) > MAX_XML_BYTES:
                raise ListFileError(
                    f"The file inflates to more than {MAX_XML_BYTES // (1024 * 1024)} MB of XML: that is not a "
                    "list export (a real one of 10,000 entries is about 10 MB)."
                )
    except zlib.error as error:
        raise ListFileError(f"The file looks gzip-compressed but cannot be inflated ({error}).") from None
    if not inflater.eof:
        raise ListFileError("The gzip file is cut short: download the export again.")
    return bytes(out)


def list_file_read(data: bytes) -> bytes:
    """The XML of an upload, ``.xml`` or ``.xml.gz``."""
    if len(data) > settings.FILE_UPLOAD_MAX_BYTES:
        raise too_large()
    if not data:
        raise ListFileError("The file is empty.")
    xml = _inflate(data) if data.startswith(GZIP_MAGIC) else data
    if len(xml) > MAX_XML_BYTES:
        raise ListFileError(f"The XML is larger than {MAX_XML_BYTES // (1024 * 1024)} MB.")
    start = xml.lstrip()[:5].lstrip(b"\xef\xbb\xbf")
    if not start.startswith(b"<"):
        raise ListFileError(
            "This is not an XML file. Upload the export MyAnimeList makes (Profile → Export → "
            "animelist_….xml.gz), as it is or unpacked."
        )
    return xml


def _text(element: Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _number(text: str) -> int:
    try:
        return max(0, int(float(text)))
    except ValueError:
        return 0


def list_parse(xml: bytes) -> ParsedList:
    """The entries of an export's XML (see the module's rules)."""
    try:
        root = SafeElementTree.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise ListFileError(
            f"The XML declares a DTD or entities ({type(error).__name__}), which a list export never does; "
            "it was refused unread."
        ) from None
    except ParseError as error:
        raise ListFileError(f"The XML is malformed ({error}).") from None
    if root.tag != "myanimelist":
        raise ListFileError(f"This XML is not a MyAnimeList list export (its root is <{root.tag[:40]}>).")
    items = root.findall("anime")
    if len(items) > MAX_ENTRIES:
        raise ListFileError(f"The list has {len(items):,} entries; at most {MAX_ENTRIES:,} are accepted.")
    if not items and root.find("manga") is not None:
        raise ListFileError("This is a manga list export; upload the anime list.")
    entries: dict[int, ParsedEntry] = {}
    skipped = 0
    for item in items:
        mal_id = _number(_text(item, "series_animedb_id"))
        status = STATUSES.get(_text(item, "my_status").lower())
        if not mal_id or status is None:
            skipped += 1
            continue
        score = _number(_text(item, "my_score"))
        entries[mal_id] = ParsedEntry(
            mal_id=mal_id,
            title=_text(item, "series_title")[:255],
            status=status.value,
            score=score if score <= 10 else 0,
            watched_episodes=_number(_text(item, "my_watched_episodes")),
        )
    myinfo = root.find("myinfo")
    user_name = _text(myinfo, "user_name")[:64] if myinfo is not None else ""
    return ParsedList(user_name=user_name, entries=list(entries.values()), skipped=skipped)


def list_upload_parse(data: bytes) -> ParsedList:
    return list_parse(list_file_read(data))
