"""Reading catalogue files: which records a path holds, in which of the known shapes.

Shapes (see ../shared/data/README.md): the seed's ``output.json``; Jikan v4 anime objects (one
object, a list, a ``{"data": [...]}`` page, or JSON Lines); the flattened Jikan records of the
season dumps; the other flattened shape with ``aired`` as display text; the anime-mapper
catalogue (gzip JSON Lines); and the dated member estimates (CSV). JSON Lines and CSV are read a
line at a time (the whole catalogue inflates to 66 MB of JSON).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from catalog.records import (
    AnimeRecord,
    RecordError,
    record_from_estimate,
    record_from_flat,
    record_from_jikan,
    record_from_mapper,
    record_from_seed,
)

_UTC = dt.UTC


@dataclass(frozen=True)
class SourceFormat:
    name: str
    parse: Callable[..., AnimeRecord]
    # When two files describe one anime, the fresher data wins for counts and text and older
    # data fills gaps (catalog.records.merge_records): the date decides, then the priority.
    # Dates from ../shared/data/README.md: the complete Jikan objects 2023-07; the seed export
    # 2024 (Frieren complete, no 2025 titles: taken as April 2024); the aired-text flat dump 2025
    # (it lists autumn-2025 films: taken as October 2025); the season dumps 2026-02-15. The
    # anime-mapper records and the member estimates carry their own dates (None here).
    priority: int
    fetched_at: dt.datetime | None


SEED = SourceFormat("seed", record_from_seed, 2, dt.datetime(2024, 4, 1, tzinfo=_UTC))
JIKAN = SourceFormat("jikan", record_from_jikan, 1, dt.datetime(2023, 7, 1, tzinfo=_UTC))
JIKAN_SEASON = SourceFormat("jikan-season", record_from_flat, 4, dt.datetime(2026, 2, 15, tzinfo=_UTC))
JIKAN_FLAT = SourceFormat("jikan-flat", record_from_flat, 3, dt.datetime(2025, 10, 1, tzinfo=_UTC))
MAPPER = SourceFormat("anime-mapper", record_from_mapper, 5, None)
ESTIMATE = SourceFormat("members-estimate", record_from_estimate, 0, None)

SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".csv")


def detect_format(item: Any) -> SourceFormat | None:
    if not isinstance(item, dict):
        return None
    if "idMal" in item:
        return MAPPER
    if "as_of" in item and "mal_id" in item and "members" in item:
        return ESTIMATE
    if "ID" in item and ("Name" in item or "Sypnosis" in item):
        return SEED
    if "mal_id" in item or "title" in item:
        if "images" in item or "titles" in item or isinstance(item.get("aired"), dict):
            return JIKAN
        if "aired_from" in item or "aired_to" in item:
            return JIKAN_SEASON
        return JIKAN_FLAT
    return None


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.name.endswith(SUFFIXES) and p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def _items_of(payload: Any) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and "data" in payload:
        data = payload["data"]
        return data if isinstance(data, list) else [data]
    return [payload]


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def load_items(path: Path) -> Iterator[Any]:
    """Yield the raw items of one file; raises ValueError when it is not JSON, JSON Lines or CSV."""
    name = path.name.removesuffix(".gz")
    with _open_text(path) as handle:
        if name.endswith(".csv"):
            yield from csv.DictReader(handle)
            return
        if not name.endswith((".jsonl", ".ndjson")):
            text = handle.read()
            try:
                payload = json.loads(text)
            except json.JSONDecodeError:
                handle = io.StringIO(text)  # not one JSON document: read it as JSON Lines below
            else:
                yield from _items_of(payload)
                return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield from _items_of(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None


@dataclass
class ReadResult:
    record: AnimeRecord | None = None
    error: RecordError | None = None
    origin: str = ""


def read_records(path: Path) -> Iterator[ReadResult]:
    items = load_items(path)
    index = 0
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except (ValueError, UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            # The records before the bad line are kept; the rest of the file is unreadable.
            yield ReadResult(error=RecordError("unreadable file", str(exc)), origin=str(path))
            return
        origin = f"{path}#{index}"
        index += 1
        fmt = detect_format(item)
        if fmt is None:
            yield ReadResult(error=RecordError("unknown format"), origin=origin)
            continue
        try:
            record = fmt.parse(item, source=fmt.name, priority=fmt.priority, fetched_at=fmt.fetched_at)
        except RecordError as exc:
            yield ReadResult(error=exc, origin=origin)
        else:
            yield ReadResult(record=record, origin=origin)
