"""Generated list exports, real and hostile, built in memory: for ``manage.py list_parse_bench``
and the tests of ``catalog.lists.parsing``. Nothing here is read by the site itself.

``export_sample`` writes MyAnimeList's real format (the layout of ``catalog/tests/data``'s export:
a comment, ``<myinfo>`` with its counts, then one ``<anime>`` with its 23 fields per entry); the
others are the shapes an attacker would send, each a few tens of KB of gzip.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Sequence

STATUSES = ("Completed", "Completed", "Completed", "Plan to Watch", "Watching", "Dropped", "On-Hold")
TYPES = ("TV", "Movie", "OVA", "ONA", "Special")
# Titles of a real list's length (the catalogue's average title is about 20 characters; these
# are 40, so the sample errs on the large side).
TITLE = "Sample Anime Title {n:06d}: The Subtitle"


def export_sample(
    entries: int,
    *,
    ids: Sequence[int | str] = (),
    titles: Sequence[str] = (),
    encoding: str = "UTF-8",
    user_name: str = "example_user",
) -> bytes:
    """An export of ``entries`` anime in MyAnimeList's format, encoded as ``encoding`` declares;
    entry ``i`` is anime ``ids[i]`` (else ``i + 1``) titled ``titles[i]`` (else a made-up title)."""
    counts = {status: 0 for status in STATUSES}
    parts = []
    for i in range(entries):
        status = STATUSES[i % len(STATUSES)]
        counts[status] += 1
        episodes = 12 + (i % 3) * 12
        title = titles[i] if i < len(titles) else TITLE.format(n=i)
        scored = status in ("Completed", "Dropped", "Watching")
        parts.append(
            f"""	<anime>
		<series_animedb_id>{ids[i] if i < len(ids) else i + 1}</series_animedb_id>
		<series_title><![CDATA[{title}]]></series_title>
		<series_type>{TYPES[i % len(TYPES)]}</series_type>
		<series_episodes>{episodes}</series_episodes>
		<my_id>0</my_id>
		<my_watched_episodes>{episodes if status == "Completed" else i % episodes}</my_watched_episodes>
		<my_start_date>2019-04-0{1 + i % 9}</my_start_date>
		<my_finish_date>2019-06-2{1 + i % 9}</my_finish_date>
		<my_rated></my_rated>
		<my_score>{(i % 10) + 1 if scored else 0}</my_score>
		<my_storage></my_storage>
		<my_storage_value>0.00</my_storage_value>
		<my_status>{status}</my_status>
		<my_comments><![CDATA[]]></my_comments>
		<my_times_watched>0</my_times_watched>
		<my_rewatch_value></my_rewatch_value>
		<my_priority>LOW</my_priority>
		<my_tags><![CDATA[]]></my_tags>
		<my_rewatching>0</my_rewatching>
		<my_rewatching_ep>0</my_rewatching_ep>
		<my_discuss>1</my_discuss>
		<my_sns>default</my_sns>
		<update_on_import>0</update_on_import>
	</anime>

"""
        )
    head = f"""<?xml version="1.0" encoding="{encoding}" ?>
<!--
 Created by XML Export feature at MyAnimeList.net
 Version 1.1.0
-->

<myanimelist>

	<myinfo>
		<user_id>1234567</user_id>
		<user_name>{user_name}</user_name>
		<user_export_type>1</user_export_type>
		<user_total_anime>{entries}</user_total_anime>
		<user_total_watching>{counts["Watching"]}</user_total_watching>
		<user_total_completed>{counts["Completed"]}</user_total_completed>
		<user_total_onhold>{counts["On-Hold"]}</user_total_onhold>
		<user_total_dropped>{counts["Dropped"]}</user_total_dropped>
		<user_total_plantowatch>{counts["Plan to Watch"]}</user_total_plantowatch>
	</myinfo>

"""
    return (head + "".join(parts) + "</myanimelist>\n").encode(encoding)


def gzipped(pieces: Iterable[bytes]) -> bytes:
    """``pieces`` gzip-compressed (level 9) without joining them first."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join(compressor.compress(piece) for piece in pieces) + compressor.flush()


def _repeated(unit: bytes, count: int, batch: int = 100_000) -> Iterable[bytes]:
    for start in range(0, count, batch):
        yield unit * min(batch, count - start)


def element_bomb(count: int = 10_000_000) -> bytes:
    """``count`` empty elements under the root: about 40 KB of gzip for 10 million (40 MB of XML)."""
    return gzipped([b"<myanimelist>", *_repeated(b"<a/>", count), b"</myanimelist>"])


def entry_bomb(count: int = 10_000_000) -> bytes:
    """``count`` empty ``<anime/>`` entries (the entry cap's case)."""
    return gzipped([b"<myanimelist>", *_repeated(b"<anime/>", count), b"</myanimelist>"])


def deep_nesting(depth: int = 5_500_000) -> bytes:
    """Elements nested ``depth`` deep inside the root: about 40 KB of gzip for 5.5 million."""
    return gzipped([b"<myanimelist>", *_repeated(b"<a>", depth), *_repeated(b"</a>", depth), b"</myanimelist>"])


def field_bomb(entries: int = 30_000, fields: int = 47) -> bytes:
    """``entries`` entries of ``fields`` empty fields each: the largest shape the per-entry and
    entry caps let through, which only the element cap stops."""
    entry = b"<anime>" + b"<f/>" * fields + b"</anime>"
    return gzipped([b"<myanimelist>", *_repeated(entry, entries, 1000), b"</myanimelist>"])


def long_tag(size: int = 30 * 1024 * 1024) -> bytes:
    """One start tag with an attribute value of ``size`` bytes, which expat would hold whole."""
    return gzipped([b'<myanimelist><anime x="', *_repeated(b"x", size, 1024 * 1024), b'"/></myanimelist>'])


def many_names(count: int = 1_000_000) -> bytes:
    """``count`` elements each with a name of its own (the parser keeps a table of names)."""
    batches = (
        "".join(f"<n{i}/>" for i in range(start, min(count, start + 10_000))).encode()
        for start in range(0, count, 10_000)
    )
    return gzipped([b"<myanimelist>", *batches, b"</myanimelist>"])


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)
