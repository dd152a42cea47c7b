"""Reading a MyAnimeList list export (``animelist_<time>_-_<user id>.xml.gz``), safely, as a stream.

The export is XML: a ``<myanimelist>`` root with one ``<myinfo>`` (user_id, user_name, counts)
and one ``<anime>`` per entry with 23 child elements (``series_animedb_id``, ``series_title``,
``series_type``, ``series_episodes``, ``my_id``, ``my_watched_episodes``, ``my_start_date``,
``my_finish_date``, ``my_rated``, ``my_score`` 0-10, ``my_storage``, ``my_storage_value``,
``my_status``, ``my_comments``, ``my_times_watched``, ``my_rewatch_value``, ``my_priority``,
``my_tags``, ``my_rewatching``, ``my_rewatching_ep``, ``my_discuss``, ``my_sns``,
``update_on_import``). An upload is untrusted, so it is read as a stream, and every bound is
checked while reading: the file is refused as soon as one is passed, having cost no more than
the largest real export would.

- at most ``settings.FILE_UPLOAD_MAX_BYTES`` (5 MB) are read: the site's upload handler stops
  there, and bytes handed in otherwise are checked here;
- gzip is recognised by its magic bytes and inflated ``CHUNK`` by ``CHUNK``, each piece fed to
  the parser before the next is inflated; past ``MAX_XML_BYTES`` of XML the file is refused (a
  "gzip bomb" of a few KB that inflates to gigabytes stops there, having held 64 KB at a time);
- the text is decoded by Python's codec for the encoding the file declares (or its byte-order
  mark), incrementally, and the parser is fed text: UTF-8 as MyAnimeList writes it, and also
  Shift_JIS, EUC-JP, UTF-16 and the rest, which expat cannot read by itself; an encoding Python
  does not know is refused by name;
- the parser is expat with DTDs, entity declarations and external references refused by the
  handlers defusedxml's ``DefusedXMLParser`` sets, raising defusedxml's exceptions: no "billion
  laughs", no XXE. The bare expat parser rather than defusedxml's ElementTree layer, whose
  Python work per element doubled the time of reading a large export;
- no tree is built: a small reader keeps the few fields it needs and drops the rest as it goes,
  and caps depth, elements, entries, elements per entry, distinct names and the length of one
  tag (see the constants: each says what a real export has);
- at most ``MAX_ENTRIES`` entries; ids, scores and episode counts outside the database's range
  are treated as missing (an entry without a usable id is skipped and counted).

Every refusal is a ``ListFileError`` whose message says what is wrong, for the form or the 400.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from django.conf import settings

from catalog.converters import MAX_MAL_ID
from catalog.models import ListStatus

# Measured: a 30,000-entry export in MyAnimeList's real format (``catalog.lists.samples``: 23
# fields per entry, 40-character titles, both dates filled) is 26,978,043 bytes (25.7 MB) of
# XML with 720,011 elements. The bounds leave room for longer titles, comments and tags (40% more
# bytes, 39% more elements), and no more: a file that passes them costs no more to read than
# the largest export we accept (about 2 s of CPU on this 2-core machine).
MAX_ENTRIES = 30_000
MAX_XML_BYTES = 36 * 1024 * 1024
MAX_ELEMENTS = 1_000_000
# Elements of one entry (itself and its fields): 24 in a real one; room for fields MAL may add.
MAX_ENTRY_ELEMENTS = 48
# Elements outside the entries: 11 (the root, <myinfo> and its 9 fields).
MAX_OTHER_ELEMENTS = 1_000
# Nesting: <myanimelist> / <anime> / <series_title> is 3.
MAX_DEPTH = 8
# Distinct element and attribute names: 35 in a real export. expat keeps a table of the names
# it has seen, which would otherwise grow with every new one.
MAX_NAMES = 256
# The longest tag, comment or declaration: expat holds one whole while reading it (text is
# handed over in pieces, however long). A real export's longest is its 70-character header comment.
MAX_TOKEN_CHARS = 1024 * 1024
# The longest text kept of one field (titles are stored cut at 255 characters).
MAX_FIELD_CHARS = 1024
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 64 * 1024
# Enough of the start to read a byte-order mark and the XML declaration.
HEAD_BYTES = 1024

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
ENTRY_TAGS = ("anime", "manga")
ENTRY_FIELDS = ("series_animedb_id", "series_title", "my_score", "my_status", "my_watched_episodes")
# Byte-order marks, longest first (UTF-32-LE's starts with UTF-16-LE's).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# "<?" in UTF-16 without a byte-order mark (XML 1.0, appendix F).
UTF16_WITHOUT_BOM = {b"<\x00?\x00": "utf-16-le", b"\x00<\x00?": "utf-16-be"}
DECLARED_ENCODING = re.compile(rb"<\?xml[^>]{0,200}?\sencoding\s*=\s*[\"']([^\"']{0,64})[\"']")
NOT_XML = (
    "This is not an XML file. Upload the export MyAnimeList makes (Profile → Export → "
    "animelist_….xml.gz), as it is or unpacked."
)


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


# ---------------------------------------------------------------------------- bytes


def _xml_pieces(data: bytes) -> Iterator[bytes]:
    """The upload's XML, ``CHUNK`` bytes at a time: gzip inflated piece by piece (never more
    than ``MAX_XML_BYTES`` in all), anything else as it is."""
    if not data.startswith(GZIP_MAGIC):
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    position = total = 0
    while not inflater.eof:
        if inflater.unconsumed_tail:
            source = inflater.unconsumed_tail
        else:
            source = data[position : position + CHUNK]
            position += len(source)
        try:
            piece = inflater.decompress(source, CHUNK)
        except zlib.error as error:
            raise ListFileError(f"The file looks gzip-compressed but cannot be inflated ({error}).") from None
        if not source and not piece:
            break  # no input left and nothing more comes out
        total += len(piece)
        if total > MAX_XML_BYTES:
            raise ListFileError(
                f"The file inflates to more than {MAX_XML_BYTES // (1024 * 1024)} MB of XML: that is not a "
                f"list export (a real one of {MAX_ENTRIES:,} entries is about 27 MB)."
            )
        if piece:
            yield piece
    if not inflater.eof:
        raise ListFileError("The gzip file is cut short: download the export again.")


def _headed(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` with the first at least ``HEAD_BYTES`` long (or all there is)."""
    head = b""
    for piece in pieces:
        head += piece
        if len(head) >= HEAD_BYTES:
            break
    yield head
    yield from pieces


# ---------------------------------------------------------------------------- text


def _declared_codec(head: bytes) -> str:
    """The codec of the encoding an ASCII-compatible file declares (UTF-8 when it declares none)."""
    match = DECLARED_ENCODING.match(head.lstrip())
    if match is None:
        return "utf-8"
    name = match.group(1).decode("ascii", "replace").strip()
    try:
        # str.encode refuses unknown names and codecs that are not text encodings (base64, …).
        written = "<?xml".encode(name).removeprefix(codecs.BOM_UTF8)
    except LookupError:
        raise ListFileError(
            f"The XML declares an unknown encoding {name[:40]!r}. MyAnimeList writes UTF-8: upload its export as it is."
        ) from None
    if written != b"<?xml":
        raise ListFileError(f"The XML declares the encoding {name[:40]!r}, but the file is not written in it.")
    return name


def _text_decoder(head: bytes) -> codecs.IncrementalDecoder:
    """The incremental decoder of the file's text, read from its first bytes: a byte-order mark,
    UTF-16 without one, or the XML declaration. Refuses a file whose text does not start with
    "<" (not XML) or that declares an encoding Python does not know."""
    codec = next((name for bom, name in BOMS if head.startswith(bom)), None) or UTF16_WITHOUT_BOM.get(head[:4])
    if codec is None:
        if not head.lstrip().startswith(b"<"):
            raise ListFileError(NOT_XML)
        codec = _declared_codec(head)
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    if codec.startswith("utf-16") or codec == "utf-32":
        start = codecs.getincrementaldecoder(codec)(errors="replace").decode(head[:64])
        if not start.lstrip().startswith("<"):
            raise ListFileError(NOT_XML)
    return decoder


# ---------------------------------------------------------------------------- the reader


def _number(text: str) -> int:
    """A whole number from 0 to the database's integer bound; anything else ("", "abc", "1e400",
    "-3", 2**63) is 0."""
    try:
        number = int(text)
    except ValueError:
        try:
            number = int(float(text))
        except (ValueError, OverflowError):
            return 0
    return number if 0 <= number <= MAX_MAL_ID else 0


class _ExportReader:
    """expat's handlers: follows the elements as they open and close, checks the bounds, keeps
    the entries' few fields and the user name, and drops everything else at once."""

    def __init__(self) -> None:
        self.depth = 0
        self.elements = 0
        self.other_elements = 0
        self.names: set[str] = set()
        self.events = 0
        self.entry_tag = ""  # "anime" or "manga" while inside an entry
        self.entry_elements = 0
        self.entries: dict[int, ParsedEntry] = {}
        self.entry_count = 0
        self.manga = 0
        self.skipped = 0
        self.in_myinfo = False
        self.user_name = ""
        self.fields: dict[str, str] = {}
        self.field = ""  # the kept field being read
        self.text: list[str] = []
        self.text_chars = 0
        self.token_chars = 0  # text fed since the last event (see _feed)

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.events += 1
        self.depth += 1
        self.elements += 1
        if tag not in self.names:
            self._name_add(tag)
        for name in attrib:  # a real export has no attributes
            if name not in self.names:
                self._name_add(name)
        if self.depth > MAX_DEPTH:
            raise ListFileError(
                f"The XML is nested more than {MAX_DEPTH} levels deep: that is not a list export (one is 3 deep)."
            )
        if self.elements > MAX_ELEMENTS:
            raise ListFileError(
                f"The XML has more than {MAX_ELEMENTS:,} elements: that is not a list export (one of "
                f"{MAX_ENTRIES:,} entries has about 720,000)."
            )
        if self.depth == 1:
            if tag != "myanimelist":
                raise ListFileError(f"This XML is not a MyAnimeList list export (its root is <{tag[:40]}>).")
            self.other_elements += 1
        elif self.depth == 2 and tag in ENTRY_TAGS:
            self._entry_start(tag)
        elif self.entry_tag:
            self.entry_elements += 1
            if self.entry_elements > MAX_ENTRY_ELEMENTS:
                raise ListFileError(
                    f"An entry has more than {MAX_ENTRY_ELEMENTS} elements: that is not a list export "
                    "(an entry has 24)."
                )
            if self.depth == 3 and tag in ENTRY_FIELDS and tag not in self.fields:
                self._text_start(tag)
        else:
            self.other_elements += 1
            if self.other_elements > MAX_OTHER_ELEMENTS:
                raise ListFileError(
                    f"The XML has more than {MAX_OTHER_ELEMENTS:,} elements outside its entries: that is not a "
                    "list export (one has 11)."
                )
            if self.depth == 2 and tag == "myinfo":
                self.in_myinfo = True
            elif self.depth == 3 and self.in_myinfo and tag == "user_name" and not self.user_name:
                self._text_start(tag)

    def _name_add(self, name: str) -> None:
        self.names.add(name)
        if len(self.names) > MAX_NAMES:
            raise ListFileError(
                f"The XML uses more than {MAX_NAMES} different names: that is not a list export (one uses 35)."
            )

    def _entry_start(self, tag: str) -> None:
        self.entry_count += 1
        if self.entry_count > MAX_ENTRIES:
            raise ListFileError(
                f"The list has more than {MAX_ENTRIES:,} entries; at most {MAX_ENTRIES:,} are accepted."
            )
        self.entry_tag = tag
        self.entry_elements = 1
        self.fields = {}

    def _text_start(self, tag: str) -> None:
        self.field = tag
        self.text = []
        self.text_chars = 0

    def data(self, text: str) -> None:
        self.events += 1
        if self.field and self.text_chars < MAX_FIELD_CHARS:
            self.text.append(text)
            self.text_chars += len(text)

    def end(self, tag: str) -> None:
        self.events += 1
        if self.field and self.depth == 3:
            value = "".join(self.text)[:MAX_FIELD_CHARS].strip()
            if self.field == "user_name":
                self.user_name = value[:64]
            else:
                self.fields[self.field] = value
            self.field = ""
        if self.depth == 2:
            if self.entry_tag:
                self._entry_end()
            self.in_myinfo = False
        self.depth -= 1

    def _entry_end(self) -> None:
        fields, tag = self.fields, self.entry_tag
        self.entry_tag = ""
        if tag == "manga":
            self.manga += 1
            return
        mal_id = _number(fields.get("series_animedb_id", ""))
        status = STATUSES.get(fields.get("my_status", "").lower())
        if not mal_id or status is None:
            self.skipped += 1
            return
        score = _number(fields.get("my_score", ""))
        self.entries[mal_id] = ParsedEntry(
            mal_id=mal_id,
            title=fields.get("series_title", "")[:255],
            status=status.value,
            score=score if score <= 10 else 0,
            watched_episodes=_number(fields.get("my_watched_episodes", "")),
        )

    def comment(self, text: str) -> None:
        self.events += 1

    def pi(self, target: str, text: str) -> None:
        self.events += 1

    def result(self) -> ParsedList:
        if not self.entries and not self.skipped and self.manga:
            raise ListFileError("This is a manga list export; upload the anime list.")
        return ParsedList(user_name=self.user_name, entries=list(self.entries.values()), skipped=self.skipped)


# ---------------------------------------------------------------------------- the parser


def _refuse_dtd(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _refuse_entity(
    name: str,
    is_parameter_entity: bool,
    value: str | None,
    base: str | None,
    sysid: str | None,
    pubid: str | None,
    notation_name: str | None,
) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _refuse_unparsed_entity(
    name: str, base: str | None, sysid: str | None, pubid: str | None, notation_name: str | None
) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _refuse_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> None:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def _expat_parser(reader: _ExportReader) -> Any:
    """A bare expat parser reporting to ``reader``, refusing what defusedxml's
    ``DefusedXMLParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)`` refuses,
    with the same handlers and exceptions. With no default handler, expat itself refuses a
    reference to an undeclared entity."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True  # text in pieces of up to 8 KB, not one call per line
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    parser.CommentHandler = reader.comment
    parser.ProcessingInstructionHandler = reader.pi
    return parser


def _feed(parser: Any, reader: _ExportReader, text: str, *, final: bool = False) -> None:
    """Feed one piece of text (expat reads text as UTF-8 whatever the declaration says: the
    decoding is done). A piece that brings no event at all extends a tag, comment or
    declaration expat is holding whole: past ``MAX_TOKEN_CHARS`` of those, refuse."""
    events = reader.events
    parser.Parse(text, final)
    if reader.events != events:
        reader.token_chars = 0
        return
    reader.token_chars += len(text)
    if reader.token_chars > MAX_TOKEN_CHARS:
        raise ListFileError(
            f"The XML has a tag or comment longer than {MAX_TOKEN_CHARS // (1024 * 1024)} MB: that is not a "
            "list export."
        )


def _drain(pieces: Iterator[bytes]) -> None:
    """Read the rest of the upload without parsing it, so that a fault of the file itself (it
    inflates past the bound, its gzip is cut short) is reported before a fault of its first
    bytes, as when the whole file was inflated first. One piece at a time, at most
    ``MAX_XML_BYTES`` in all (a few hundredths of a second)."""
    for _ in pieces:
        pass


def _decoder_or_drain(head: bytes, pieces: Iterator[bytes]) -> codecs.IncrementalDecoder:
    try:
        return _text_decoder(head)
    except ListFileError:
        _drain(pieces)
        raise


def list_upload_parse(data: bytes) -> ParsedList:
    """The entries of an upload, ``.xml`` or ``.xml.gz``, read as a stream (see the module's rules)."""
    if len(data) > settings.FILE_UPLOAD_MAX_BYTES:
        raise too_large()
    if not data:
        raise ListFileError("The file is empty.")
    pieces = _headed(_xml_pieces(data))
    reader = _ExportReader()
    parser = _expat_parser(reader)
    decoder: codecs.IncrementalDecoder | None = None
    try:
        for piece in pieces:
            if decoder is None:
                decoder = _decoder_or_drain(piece, pieces)
            _feed(parser, reader, decoder.decode(piece))
        if decoder is None:
            raise ListFileError(NOT_XML)  # a gzip of nothing
        _feed(parser, reader, decoder.decode(b"", final=True), final=True)
    except DefusedXmlException as error:
        raise ListFileError(
            f"The XML declares a DTD or entities ({type(error).__name__}), which a list export never does; "
            "it was refused unread."
        ) from None
    except expat.ExpatError as error:
        _drain(pieces)
        raise ListFileError(f"The XML is malformed ({error}).") from None
    except UnicodeDecodeError as error:
        _drain(pieces)
        raise ListFileError(f"The file is not valid {error.encoding} text ({error.reason}).") from None
    return reader.result()
