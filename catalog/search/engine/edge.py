"""Qdrant Edge: Qdrant's own engine inside this process (``qdrant-edge-py``), the embedded default.

Layout under ``QDRANT_PATH`` (``var/search-index``)::

    <base>/CURRENT             {"generation": ..., "previous": ...}: what searches read
    <base>/.lock               writers take it (flock) in turn, whatever process they run in
    <base>/<generation>/       one shard per generation; published ones are never written again
    <base>/<generation>.building   held (flock) by a build in progress

**Why generations, and never two processes on one shard.** Measured with qdrant-edge-py 0.9.0: a
shard opened with its write-ahead log is refused to a second process ("failed to open WAL ...
WouldBlock"); without the WAL, a second process can open it, but a reader that has it open sees
a torn mix of another process's writes (a payload edited in place shows; inserted and deleted
points do not, until it reloads), and when that reader closes, it writes its stale state back:
the writer's newly inserted point lost its dense vector. So no directory ever has a writer and a
reader at once:

- a **build** creates a new shard in a new directory, fills it, optimizes it, and publishes it by
  replacing ``CURRENT`` (an atomic rename);
- a **write** to the live index (an edited anime, a crawled batch) copies the live shard to a new
  directory (sparse copy: ~6 MB of data in 128 MB of preallocated files, ~30 ms), applies the
  change there and publishes the copy the same way; writers take ``.lock`` in turn, so no change
  is lost between processes (web server threads, a Celery worker, ``build_index``);
- **readers** (every process that searches) open the generation ``CURRENT`` names and check
  ``CURRENT`` on each query (one ``stat``); when it changed they open the new one (~40 ms) and
  drop the old. Several gunicorn workers read one generation at once.

The previous generation is kept for readers that have not switched yet; older ones are removed.
The engine raises bare ``Exception`` for every failure, so this module turns those into
``EngineUnavailable`` at each call into it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from catalog.search.engine.types import (
    Condition,
    EngineUnavailable,
    Filter,
    Fusion,
    Generation,
    HasId,
    Hit,
    IndexMissing,
    Match,
    MatchAny,
    Nearest,
    Point,
    Range,
    Record,
    Schema,
    Sparse,
    Vector,
    VectorQuery,
    best_first,
    filters_both,
    fused_limit,
    generation_name,
    generations_of,
    nearest_best_first,
)

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
LOCK = ".lock"
BUILDING = ".building"
# The engine's search thread pool: on 2 cores, with ~2,300 points in one segment, a pool only adds
# hand-offs (measured: 4,558 hybrid queries/s with 1 thread, 2,589 with the default 2).
SEARCH_THREADS = 1
# Temporary directories the engine makes while it rewrites a JSON file atomically: a copy skips them.
_ENGINE_TEMP_PREFIX = ".atomicwrite"

_PAYLOAD_KINDS = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
}


def _unavailable(action: str, error: Exception) -> EngineUnavailable:
    return EngineUnavailable(f"Qdrant Edge could not {action}: {error}")


# ---------------------------------------------------------------------------- translation


def _vector(vector: Vector) -> Any:
    if isinstance(vector, Sparse):
        return qe.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return [float(v) for v in vector]


def _vector_back(value: Any) -> Vector:
    if isinstance(value, qe.SparseVector):
        return Sparse(indices=list(value.indices), values=list(value.values))
    return list(value)


def _condition(condition: Condition) -> Any:
    if isinstance(condition, Match):
        return qe.FieldCondition(condition.key, match=qe.MatchValue(condition.value))
    if isinstance(condition, MatchAny):
        return qe.FieldCondition(condition.key, match=qe.MatchAny(list(condition.values)))
    if isinstance(condition, Range):
        return qe.FieldCondition(condition.key, range=qe.RangeFloat(gte=condition.gte, lte=condition.lte))
    if isinstance(condition, HasId):
        return qe.HasIdCondition(set(condition.ids))
    raise TypeError(f"unknown condition {condition!r}")


def _filter(filter: Filter | None) -> Any:
    if not filter:
        return None
    return qe.Filter(
        must=[_condition(c) for c in filter.must] or None,
        must_not=[_condition(c) for c in filter.must_not] or None,
    )


def _with(selection: Sequence[str] | bool) -> Any:
    return list(selection) if not isinstance(selection, bool) else selection


def _config(schema: Schema) -> Any:
    return qe.EdgeConfig(
        vectors={
            name: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine) for name, size in schema.dense.items()
        },
        sparse_vectors={name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf) for name in schema.sparse},
        # Durability comes from publishing a flushed generation, not from a log; and only a
        # shard without a WAL can be opened by several reading processes.
        wal_enabled=False,
        max_search_threads=SEARCH_THREADS,
    )


def _ranking_filter(filter: Filter | None, query: VectorQuery) -> Any:
    """The engine filter of one ranking: the query's ``filter`` and the ranking's own ``within``."""
    return _filter(filters_both(filter, query.within))


def _nearest_request(
    query: VectorQuery, limit: int, filter: Filter | None, *, payload: Sequence[str] | bool, exact: bool = False
) -> Any:
    """The engine's request for one vector's nearest points (``exact``: by a full scan)."""
    return qe.QueryRequest(
        limit=limit,
        query=qe.Query.Nearest(_vector(query.vector), using=query.using),
        filter=_ranking_filter(filter, query),
        with_payload=_with(payload),
        params=qe.SearchParams(exact=True) if exact else None,
    )


class EdgeCollection:
    """One open shard."""

    def __init__(self, shard: Any, generation: str) -> None:
        self.shard = shard
        self.generation = generation
        self.changed = False

    def _update(self, operation: Any, action: str) -> None:
        try:
            self.shard.update(operation)
        except Exception as error:
            raise _unavailable(action, error) from error
        self.changed = True

    def upsert(self, points: Sequence[Point]) -> None:
        if points:
            operation = qe.UpdateOperation.upsert_points(
                [qe.Point(p.id, {k: _vector(v) for k, v in p.vectors.items()}, p.payload) for p in points]
            )
            self._update(operation, "upsert points")

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            self._update(qe.UpdateOperation.delete_points(list(ids)), "delete points")

    def retrieve(
        self, ids: Sequence[int], *, payload: Sequence[str] | bool = False, vectors: Sequence[str] | bool = False
    ) -> list[Record]:
        if not ids:
            return []
        try:
            found = self.shard.retrieve(list(ids), _with(payload), _with(vectors))
        except Exception as error:
            raise _unavailable("read points", error) from error
        return [
            Record(
                id=int(r.id),
                payload=dict(r.payload or {}),
                vectors={k: _vector_back(v) for k, v in (r.vector or {}).items()},
            )
            for r in found
        ]

    def ids(self) -> set[int]:
        found: set[int] = set()
        offset = None
        try:
            while True:
                records, offset = self.shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=1000, with_payload=False, with_vector=False)
                )
                found.update(int(r.id) for r in records)
                if offset is None:
                    return found
        except Exception as error:
            raise _unavailable("list points", error) from error

    def count(self) -> int:
        try:
            return int(self.shard.count(qe.CountRequest(exact=True)))
        except Exception as error:
            raise _unavailable("count points", error) from error

    def payload_indexes(self) -> dict[str, str]:
        try:
            schema = self.shard.info().payload_schema
        except Exception as error:
            raise _unavailable("describe the shard", error) from error
        kinds = {v: k for k, v in _PAYLOAD_KINDS.items()}
        return {name: kinds.get(info.data_type, str(info.data_type)) for name, info in schema.items()}

    def _run(self, request: Any) -> list[Any]:
        try:
            return self.shard.query(request)
        except Exception as error:
            raise _unavailable("run the query", error) from error

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
        if not queries:
            return []
        if len(queries) == 1:
            request = _nearest_request(queries[0], limit, filter, payload=payload)
        else:
            if fusion is None or len(fusion.weights) != len(queries):
                raise ValueError("several queries need a fusion with one weight per query")
            request = qe.QueryRequest(
                limit=fused_limit(limit, candidates, len(queries)),
                prefetches=[
                    # The filter inside each ranking, so each keeps its `candidates` best matches.
                    qe.Prefetch(
                        limit=candidates or limit,
                        query=qe.Query.Nearest(_vector(q.vector), using=q.using),
                        filter=_ranking_filter(filter, q),
                    )
                    for q in queries
                ],
                query=qe.Fusion.Rrf(k=fusion.k, weights=list(fusion.weights)),
                with_payload=_with(payload),
            )
        points = self._run(request)
        return best_first(
            [Hit(id=int(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in points], limit
        )

    def nearest(self, query: VectorQuery, *, limit: int, filter: Filter | None = None, exact: bool = False) -> Nearest:
        points = self._run(_nearest_request(query, limit, filter, payload=False, exact=exact))
        # Two list comprehensions, then arrays (numpy.fromiter over the points takes ~5x as long).
        return nearest_best_first([p.id for p in points], [p.score for p in points], limit)


# ---------------------------------------------------------------------------- files


def live_generation_copy(source_folder: Path, base: str, generation: str, target_folder: Path) -> None:
    """Copy the live generation of index ``base`` and its pointer from one engine folder into
    another (an index of one's own, e.g. a test's), the way the engine's writers copy a shard."""
    _copy_sparse(source_folder / base / generation, target_folder / base / generation)
    shutil.copyfile(source_folder / base / CURRENT, target_folder / base / CURRENT)


def _copy_sparse(source: Path, target: Path) -> None:
    """Copy a shard directory, writing only the data regions of its (mostly preallocated) files."""
    target.mkdir(parents=True)
    for root, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if not d.startswith(_ENGINE_TEMP_PREFIX)]
        relative = Path(root).relative_to(source)
        for name in dirs:
            (target / relative / name).mkdir(exist_ok=True)
        for name in files:
            _copy_file_sparse(Path(root) / name, target / relative / name)


def _copy_file_sparse(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        fd = src.fileno()
        size = os.fstat(fd).st_size
        position = 0
        while position < size:
            try:
                start = os.lseek(fd, position, os.SEEK_DATA)
            except OSError as error:
                if error.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            os.lseek(fd, start, os.SEEK_SET)
            dst.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = src.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                dst.write(chunk)
                remaining -= len(chunk)
            position = end
        dst.truncate(size)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextmanager
def _flock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on ``path`` between processes (released when its holder dies)."""
    handle = open(path, "a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


@dataclass
class _Opened:
    key: tuple[int, int, int]  # CURRENT's inode, mtime and size when it was read
    generation: str
    collection: EdgeCollection


class EdgeEngine:
    kind = "edge"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._open: dict[str, _Opened] = {}
        self._lock = threading.Lock()  # opening generations
        self._write_lock = threading.Lock()  # this process's writers (flock is per open file)

    # ------------------------------------------------------------------ pointers

    def _dir(self, base: str) -> Path:
        return self.root / base

    def _pointer(self, base: str) -> dict[str, str] | None:
        try:
            return json.loads((self._dir(base) / CURRENT).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise EngineUnavailable(
                f"the search index pointer {self._dir(base) / CURRENT} is unreadable: {error}"
            ) from error

    def live(self, base: str) -> Generation | None:
        pointer = self._pointer(base)
        return Generation(pointer["generation"]) if pointer else None

    def _publish(self, base: str, generation: str) -> None:
        previous = self.live(base)
        _write_atomic(
            self._dir(base) / CURRENT,
            json.dumps(
                {
                    "generation": generation,
                    "previous": previous.name if previous else None,
                    "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ),
        )

    # ------------------------------------------------------------------ reading

    def _current_key(self, base: str) -> tuple[int, int, int]:
        try:
            stat = os.stat(self._dir(base) / CURRENT)
        except FileNotFoundError:
            raise IndexMissing(f"the search index {base} has not been built yet") from None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _reader(self, base: str) -> EdgeCollection:
        key = self._current_key(base)
        opened = self._open.get(base)
        if opened is not None and opened.key == key:
            return opened.collection
        with self._lock:
            opened = self._open.get(base)
            key = self._current_key(base)
            if opened is not None and opened.key == key:
                return opened.collection
            pointer = self._pointer(base)
            if pointer is None:
                raise IndexMissing(f"the search index {base} has not been built yet")
            generation = pointer["generation"]
            try:
                shard = qe.EdgeShard.load(str(self._dir(base) / generation))
            except Exception as error:
                raise _unavailable(f"open the search index {generation}", error) from error
            collection = EdgeCollection(shard, generation)
            # The old shard closes when the last query using it lets go of it.
            self._open[base] = _Opened(key, generation, collection)
            return collection

    @contextmanager
    def reading(self, base: str) -> Iterator[EdgeCollection]:
        yield self._reader(base)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _exclusive(self, base: str) -> Iterator[None]:
        self._dir(base).mkdir(parents=True, exist_ok=True)
        with self._write_lock, _flock(self._dir(base) / LOCK):
            yield

    def _adopt(self, base: str, collection: EdgeCollection) -> None:
        """This process searches the generation it just published without opening it again."""
        with self._lock:
            self._open[base] = _Opened(self._current_key(base), collection.generation, collection)

    @contextmanager
    def writing(self, base: str) -> Iterator[EdgeCollection]:
        with self._exclusive(base):
            live = self.live(base)
            if live is None:
                raise IndexMissing(f"the search index {base} has not been built yet")
            generation = generation_name(base, live.format)
            target = self._dir(base) / generation
            try:
                _copy_sparse(self._dir(base) / live.name, target)
                shard = qe.EdgeShard.load(str(target))
            except Exception as error:
                shutil.rmtree(target, ignore_errors=True)
                raise _unavailable(f"copy the search index {live.name}", error) from error
            collection = EdgeCollection(shard, generation)
            try:
                yield collection
                if collection.changed:
                    shard.flush()
            except BaseException:
                _close_quietly(shard)
                shutil.rmtree(target, ignore_errors=True)
                raise
            if not collection.changed:
                _close_quietly(shard)
                shutil.rmtree(target, ignore_errors=True)
                return
            self._publish(base, generation)
            self._adopt(base, collection)
            self._prune(base)

    @contextmanager
    def building(self, base: str, *, schema: Schema, format: str) -> Iterator[EdgeCollection]:
        self._dir(base).mkdir(parents=True, exist_ok=True)
        generation = generation_name(base, format)
        target = self._dir(base) / generation
        with _flock(self._dir(base) / (generation + BUILDING)):
            try:
                shard = qe.EdgeShard.create(str(target), _config(schema))
                for field_name, kind in schema.payload_indexes.items():
                    shard.update(qe.UpdateOperation.create_field_index(field_name, _PAYLOAD_KINDS[kind]))
            except Exception as error:
                shutil.rmtree(target, ignore_errors=True)
                raise _unavailable("create a search index", error) from error
            collection = EdgeCollection(shard, generation)
            try:
                yield collection
                shard.optimize()
                shard.flush()
            except BaseException:
                _close_quietly(shard)
                shutil.rmtree(target, ignore_errors=True)
                raise
            with self._exclusive(base):
                self._publish(base, generation)
                self._adopt(base, collection)
                self._prune(base)
        (self._dir(base) / (generation + BUILDING)).unlink(missing_ok=True)

    # ------------------------------------------------------------------ housekeeping

    def generations(self, base: str) -> list[str]:
        directory = self._dir(base)
        if not directory.is_dir():
            return []
        return generations_of([p.name for p in directory.iterdir() if p.is_dir()], base)

    def _prune(self, base: str) -> None:
        """Remove generations that are neither live, nor the previous one (readers still on it
        switch at their next query), nor being built (their ``.building`` lock is held)."""
        pointer = self._pointer(base) or {}
        keep = {pointer.get("generation"), pointer.get("previous")}
        for name in self.generations(base):
            if name in keep:
                continue
            marker = self._dir(base) / (name + BUILDING)
            with _flock(marker, blocking=False) as free:
                if not free:
                    continue  # a build in progress
                shutil.rmtree(self._dir(base) / name, ignore_errors=True)
            marker.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            opened, self._open = self._open, {}
        for item in opened.values():
            _close_quietly(item.collection.shard)


def _close_quietly(shard: Any) -> None:
    try:
        shard.close()
    except Exception:  # closing a shard that failed is best effort
        logger.warning("closing a Qdrant Edge shard failed", exc_info=True)
