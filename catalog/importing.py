"""Reading catalogue files: which records a path holds, in which of the known shapes.

Shapes (see ../shared/data/README.md): the seed's ``output.json``; Jikan v4 anime objects (one
object, a list, a ``{"data": [...]}`` page, or JSON Lines); the flattened Jikan records of the
season dumps; and the other flattened shape with ``aired`` as display text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.records import (
    AnimeRecord,
    RecordError,
    record_from_flat,
    record_from_jikan,
    record_from_seed,
)

_UTC = dt.UTC


@dataclass(frozen=True)
class SourceFormat:
    name: str
    parse: Callable[..., AnimeRecord]
    # When two files describe one anime, the higher priority (newer data) wins for counts and
    # text; lower ones fill gaps. Ordered by the data dates in ../shared/data/README.md: season
    # dumps 2026-02, the aired-text flat dump 2025 (it lists autumn-2025 films), the seed export
    # 2024 (Frieren complete, no 2025 titles), the complete Jikan objects 2023-07.
    priority: int
    fetched_at: dt.datetime | None


SEED = SourceFormat("seed", record_from_seed, 2, None)
JIKAN = SourceFormat("jikan", record_from_jikan, 1, dt.datetime(2023, 7, 1, tzinfo=_UTC))
JIKAN_SEASON = SourceFormat("jikan-season", record_from_flat, 4, dt.datetime(2026, 2, 15, tzinfo=_UTC))
JIKAN_FLAT = SourceFormat("jikan-flat", record_from_flat, 3, None)


def detect_format(item: Any) -> SourceFormat | None:
    if not isinstance(item, dict):
        return None
    if "ID" in item and ("Name" in item or "Sypnosis" in item):
        return SEED
    if "mal_id" in item or "title" in item:
        if "images" in item or "titles" in item or isinstance(item.get("aired"), dict):
            return JIKAN
        if "aired_from" in item or "aired_to" in item:
            return JIKAN_SEASON
        return JIKAN_FLAT
    return None


@dataclass
class ReadResult:
    record: AnimeRecord | None = None
    error: RecordError | None = None
    origin: str = ""


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in {".json", ".jsonl", ".ndjson"} and p.is_file())
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


def load_items(path: Path) -> Iterator[Any]:
    """Yield the raw items of one file; raises ValueError when it is not JSON or JSON Lines."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix not in {".jsonl", ".ndjson"}:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            pass  # not one JSON document: read it as JSON Lines below
        else:
            yield from _items_of(payload)
            return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield from _items_of(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None


def read_records(path: Path) -> Iterator[ReadResult]:
    try:
        items = list(load_items(path))
    except (ValueError, UnicodeDecodeError) as exc:
        yield ReadResult(error=RecordError("unreadable file", str(exc)), origin=str(path))
        return
    for index, item in enumerate(items):
        origin = f"{path}#{index}"
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
