"""What the site asks of a vector engine, in its own terms: the index schema, points, filters, a
(hybrid) query, and the errors a caller can act on. ``edge.py`` and ``server.py`` translate these to
Qdrant Edge and to qdrant-client; nothing else in the site imports either library."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

import numpy as np


class EngineError(Exception):
    """Base of the errors below."""


class IndexMissing(EngineError):
    """The index has no live generation yet (never built, or removed)."""


class EngineUnavailable(EngineError):
    """The engine cannot answer: a server that is down or times out, a shard on disk that cannot be
    read (missing files, corruption)."""


PayloadKind = Literal["keyword", "integer", "float"]


@dataclass(frozen=True)
class Schema:
    """The vectors and payload indexes of one index."""

    dense: dict[str, int]  # vector name -> dimension (cosine distance)
    sparse: tuple[str, ...]  # sparse vector names; the engine applies the IDF
    payload_indexes: dict[str, PayloadKind]


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]


Vector = list[float] | Sparse


@dataclass(frozen=True)
class Point:
    id: int
    vectors: dict[str, Vector]
    payload: dict[str, object]


@dataclass(frozen=True)
class Record:
    id: int
    payload: dict[str, object] = field(default_factory=dict)
    vectors: dict[str, Vector] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: int
    score: float
    payload: dict[str, object] = field(default_factory=dict)


def fused_limit(limit: int, candidates: int | None, rankings: int) -> int:
    """How many fused points a query asks the engine for: every candidate of every ranking, so
    that ``best_first`` cuts ties at ``limit`` by id, not the engine."""
    return max(limit, (candidates or limit) * rankings)


@dataclass(frozen=True)
class Nearest:
    """A single vector query's ranking as two arrays, best first (ties by id, lowest first): for
    callers that rank thousands of points themselves (recommendations), where a ``Hit`` object
    per point would cost more than the engine's own search."""

    ids: np.ndarray  # int64
    scores: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ids)


def nearest_best_first(ids: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, limit: int) -> Nearest:
    """``Nearest`` from an engine's ids and scores in any order, cut to ``limit`` (as ``best_first``)."""
    id_array = np.asarray(ids, dtype=np.int64)
    score_array = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((id_array, -score_array))[:limit]
    return Nearest(ids=id_array[order], scores=score_array[order])


def best_first(hits: Sequence[Hit], limit: int) -> list[Hit]:
    """The ``limit`` best hits, ties broken by id (lowest first). The engines return tied points
    in no set order, and reciprocal-rank fusion ties often (a first place in any one ranking
    scores the same): without this the same search could answer in two orders."""
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))[:limit]


# ---------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Match:
    """The payload field equals ``value`` (for a list field: contains it)."""

    key: str
    value: str | int


@dataclass(frozen=True)
class MatchAny:
    """The payload field equals (contains) any of ``values``."""

    key: str
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class Range:
    key: str
    gte: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class HasId:
    ids: frozenset[int]


Condition = Match | MatchAny | Range | HasId


@dataclass(frozen=True)
class Filter:
    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


def filters_both(first: Filter | None, second: Filter | None) -> Filter | None:
    """What both filters allow (either may be None: no condition)."""
    if not first:
        return second or None
    if not second:
        return first
    return Filter(must=first.must + second.must, must_not=first.must_not + second.must_not)


# ---------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class VectorQuery:
    """Nearest neighbours of ``vector`` on the named vector ``using``; with ``within``, among the
    points that filter allows only (on top of the query's own filter): a ranking inside a subset."""

    using: str
    vector: Vector
    within: Filter | None = None


@dataclass(frozen=True)
class Fusion:
    """Weighted reciprocal-rank fusion, computed by the engine. A point's score is the sum over the
    rankings it appears in of ``1 / ((rank + 1) / weight + k - 1)``, ranks counted from 0 (Qdrant's
    formula): with weight 1 that is the classic ``1 / (k + rank)``; a weight of 2 lets a ranking's
    3rd place count like an unweighted 2nd."""

    k: int
    weights: tuple[float, ...]


class Collection(Protocol):
    """One generation of an index, open for reading (and, inside ``writing``/``building``,
    for writing)."""

    generation: str

    def upsert(self, points: Sequence[Point]) -> None: ...

    def delete(self, ids: Sequence[int]) -> None: ...

    def retrieve(
        self, ids: Sequence[int], *, payload: Sequence[str] | bool = False, vectors: Sequence[str] | bool = False
    ) -> list[Record]: ...

    def ids(self) -> set[int]: ...

    def count(self) -> int: ...

    def payload_indexes(self) -> dict[str, str]:
        """Indexed payload fields -> their kind (``keyword``, ``integer``, ``float``)."""
        ...

    def query(
        self,
        queries: Sequence[VectorQuery],
        *,
        limit: int,
        filter: Filter | None = None,
        candidates: int | None = None,
        fusion: Fusion | None = None,
        payload: Sequence[str] | bool = False,
    ) -> list[Hit]:
        """One query: nearest neighbours of a single vector query, or (several) each ranking
        ``candidates`` points with ``filter`` applied inside it, fused by ``fusion``."""
        ...

    def nearest(self, query: VectorQuery, *, limit: int, filter: Filter | None = None, exact: bool = False) -> Nearest:
        """The nearest neighbours of one vector query as arrays (``Nearest``), no payloads; with
        ``exact`` by a full scan instead of the graph (faster when ``limit`` is a good part of the
        index, and the true answer)."""
        ...


@dataclass(frozen=True)
class Generation:
    """A finished, published copy of an index. Its name carries the index's base name, the
    format of what it holds (text, tokenizer, payload) and when it was built."""

    name: str

    @property
    def format(self) -> str:
        return generation_parts(self.name)[1]


class SearchEngine(Protocol):
    kind: str  # "edge" | "server"

    def live(self, base: str) -> Generation | None:
        """The generation searches read, or None when none was published."""
        ...

    def reading(self, base: str) -> AbstractContextManager[Collection]:
        """The live generation for queries. Raises ``IndexMissing`` / ``EngineUnavailable``."""
        ...

    def writing(self, base: str) -> AbstractContextManager[Collection]:
        """The live generation for changes, which searches see all at once when the block ends
        (and not at all if it raises). Raises ``IndexMissing`` when nothing is live."""
        ...

    def building(self, base: str, *, schema: Schema, format: str) -> AbstractContextManager[Collection]:
        """A new, empty generation beside the live one; when the block ends without error it
        replaces the live one atomically and older generations are removed."""
        ...

    def generations(self, base: str) -> list[str]:
        """Every generation on the engine (live, previous, unfinished), oldest first."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------- generation names

_NAME_PART = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SEPARATOR = "__g_"


def generation_name(base: str, format: str) -> str:
    """``<base>__g_<format>_<UTC time>_<random>``: sortable by time within one format, unique."""
    if not _NAME_PART.match(base) or not re.fullmatch(r"[a-z0-9]+", format):
        raise ValueError(f"bad index name {base!r} / format {format!r}")
    stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S%f")
    return f"{base}{SEPARATOR}{format}_{stamp}_{secrets.token_hex(2)}"


def generation_parts(name: str) -> tuple[str, str, str]:
    """(base, format, stamp) of a generation name."""
    base, _, rest = name.rpartition(SEPARATOR)
    format, _, stamp = rest.partition("_")
    return base, format, stamp


def generations_of(names: Iterator[str] | Sequence[str], base: str) -> list[str]:
    """The names that are generations of ``base``, oldest first."""
    prefix = base + SEPARATOR
    return sorted((n for n in names if n.startswith(prefix)), key=lambda n: generation_parts(n)[2])
