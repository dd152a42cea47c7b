"""The search index of the catalogue, through the engine boundary (``catalog.search.engine``).

One index per embedding backend+model+dimension (switching backends never mixes vectors), point
id = MAL id, a named dense vector and a sparse keyword vector (IDF applied by the engine), the
payload the filters need with an index on each filtered field. The index lives in generations:

- ``index_rebuild`` builds a new generation beside the live one and switches over atomically, then
  catches up with whatever changed while it was building (searches never see a half-built index);
- ``anime_index`` brings the live generation up to date for some anime (or all): idempotent, a
  point whose document hash is unchanged is skipped and the embeddings come from the cache;
- ``index_update`` (``build_index``) rebuilds when there is no live generation or when what it
  holds was made by another format (``INDEX_FORMAT``, the embedded text), and otherwise updates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Anime, IndexBuild
from catalog.origin import country_of_origin
from catalog.popularity import estimated_members
from catalog.search.documents import (
    DOCUMENT_FORM,
    anime_document_text,
    anime_episode_text,
    anime_genre_names,
    anime_keyword_text,
    anime_titles,
)
from catalog.search.embeddings import Embedder, embed_documents_cached, get_embedder
from catalog.search.engine import Collection, IndexMissing, Point, Schema, Sparse, VectorQuery, engine
from catalog.search.engine.types import generation_parts
from catalog.search.keywords import document_sparse
from jobs.owners import owner_gone, owner_token

logger = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "keywords"
BATCH = 256
# Every payload field a filter reads, indexed in both engines.
PAYLOAD_INDEXES: dict[str, str] = {
    "genres": "keyword",
    "type": "keyword",
    "tier": "keyword",
    "franchise_key": "keyword",
    "year": "integer",
    "score": "float",
    "members": "integer",
    "studios": "keyword",
    "tags": "keyword",
    "adult": "integer",
}
# Bump when the keyword tokenizer, keyword text, BM25 weighting or payload changes: every point is then rewritten
# on the next pass, and `build_index` builds a new generation (the dense vectors still come from the
# embedding cache).
# v3: tags and studios in the keyword text; v4: country in the payload; v5: episode titles (BM25F)
INDEX_FORMAT = "bm25-crc32-v5"
# A build whose process stopped sending progress for this long is taken as dead.
BUILD_STALE_AFTER = timedelta(seconds=120)
PROGRESS_EVERY = 1.0  # seconds between progress writes of a build


@dataclass
class IndexStats:
    indexed: int = 0
    unchanged: int = 0
    deleted: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    # No live generation to update (nothing was written; the next build includes these anime).
    missing: bool = False
    generation: str = ""
    # A rebuild's catch-up pass after the switch: anime changed while it was building.
    caught_up: int = 0

    @property
    def total(self) -> int:
        return self.indexed + self.unchanged


def index_base(embedder: Embedder | None = None) -> str:
    """The index's name: its embedding backend, model and dimension."""
    embedder = embedder or get_embedder()
    model = re.sub(r"[^a-z0-9]+", "-", embedder.model.lower()).strip("-")
    return f"anime__{embedder.name}__{model}__{embedder.dimension}"


def index_schema(embedder: Embedder | None = None) -> Schema:
    embedder = embedder or get_embedder()
    return Schema(dense={DENSE: embedder.dimension}, sparse=(SPARSE,), payload_indexes=dict(PAYLOAD_INDEXES))


def index_format() -> str:
    """A short fingerprint of what a generation holds besides the model: the keyword format,
    the embedded text's form and the payload indexes."""
    blob = json.dumps([INDEX_FORMAT, DOCUMENT_FORM, sorted(PAYLOAD_INDEXES.items())])
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------- documents


def anime_payload(anime: Anime) -> dict[str, object]:
    return {
        "mal_id": anime.mal_id,
        "title": anime.title,
        "titles": anime_titles(anime),
        "genres": anime_genre_names(anime),
        "type": anime.type,
        "year": anime.year,
        "score": anime.score,
        "tier": anime.tier,
        "members": anime.members or 0,
        "popularity": estimated_members(anime),
        "franchise_key": anime.franchise_key,
        "studios": list(anime.studios or []),
        "episodes": anime.episodes,
        "tags": [t.name for t in anime.tags.all()],
        "adult": int(anime.adult),
        "country": country_of_origin(anime),
    }


@dataclass
class Document:
    mal_id: int
    dense_text: str
    keyword_text: str
    payload: dict[str, object] = field(default_factory=dict)
    episode_text: str = ""

    @property
    def doc_hash(self) -> str:
        return str(self.payload["doc_hash"])


def _document(anime: Anime) -> Document:
    dense_text = anime_document_text(anime)
    keyword_text = anime_keyword_text(anime)
    episode_text = anime_episode_text(anime)
    payload = anime_payload(anime)
    blob = json.dumps(
        [INDEX_FORMAT, dense_text, keyword_text, episode_text, payload], sort_keys=True, ensure_ascii=False
    )
    payload["doc_hash"] = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    return Document(anime.mal_id, dense_text, keyword_text, payload, episode_text)


def _documents(ids: Sequence[int]) -> Iterator[tuple[list[int], list[Document]]]:
    """(the ids asked for, the documents of those still in the catalogue), a batch at a time."""
    queryset = Anime.objects.prefetch_related("genres", "tags")
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start : start + BATCH])
        yield chunk, [_document(a) for a in queryset.filter(mal_id__in=chunk).order_by("mal_id")]


def _points(documents: Sequence[Document], embedder: Embedder, *, use_cache: bool = True) -> list[Point]:
    texts = [d.dense_text for d in documents]
    vectors = embed_documents_cached(texts, embedder=embedder) if use_cache else embedder.embed_documents(texts)
    points = []
    for document, vector in zip(documents, vectors, strict=True):
        indices, values = document_sparse(document.keyword_text, episodes=document.episode_text)
        points.append(
            Point(
                id=document.mal_id,
                vectors={DENSE: vector.tolist(), SPARSE: Sparse(indices=indices, values=values)},
                payload=document.payload,
            )
        )
    return points


def _stored_hashes(collection: Collection, ids: Sequence[int]) -> dict[int, str]:
    return {r.id: str(r.payload.get("doc_hash", "")) for r in collection.retrieve(ids, payload=["doc_hash"])}


def _catalogue_ids() -> list[int]:
    return list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))


# ---------------------------------------------------------------------------- slices

POPULAR, WHOLE = "popular", "whole"
# A generation of the popular slice only carries this after the format in its name, so it never
# counts as up to date: the next `build_index` builds the whole catalogue.
_SLICE_SUFFIX = {POPULAR: POPULAR, WHOLE: ""}


def popular_slice_ids() -> list[int]:
    """The anime of the popular slice (``SEARCH_POPULAR_SLICE_MEMBERS`` members or more)."""
    threshold = settings.SEARCH_POPULAR_SLICE_MEMBERS
    if threshold <= 0:
        return []
    queryset = Anime.objects.filter(members__gte=threshold).order_by("mal_id")
    return list(queryset.values_list("mal_id", flat=True))


def generation_slice(format: str) -> str:
    """Which slice a live generation of this format holds: "popular" or "whole"."""
    return POPULAR if format.endswith(POPULAR) and format != index_format() else WHOLE


# ---------------------------------------------------------------------------- update the live index


def anime_index(mal_ids: Iterable[int] | None = None, *, progress: Callable[[int], None] | None = None) -> IndexStats:
    """Bring the live generation up to date for these anime (all when ``mal_ids`` is None; a
    full pass also drops points of anime no longer in the catalogue).

    First, without holding anything, the stored document hashes are compared with the catalogue
    and the embeddings of changed texts are computed (into the cache). Only if something changed,
    the writer (one at a time, across processes) reads those anime again, writes them, and the
    change appears to searches at once."""
    started = time.perf_counter()
    embedder = get_embedder()
    base = index_base(embedder)
    stats = IndexStats()
    full = mal_ids is None
    wanted = _catalogue_ids() if full else sorted({int(i) for i in mal_ids})
    todo: list[int] = []
    gone: list[int] = []
    try:
        with engine().reading(base) as live:
            for chunk, documents in _documents(wanted):
                stored = _stored_hashes(live, chunk)
                present = {d.mal_id for d in documents}
                gone.extend(i for i in chunk if i not in present and i in stored)
                changed = [d for d in documents if stored.get(d.mal_id) != d.doc_hash]
                stats.unchanged += len(documents) - len(changed)
                if changed:
                    mark = time.perf_counter()
                    embed_documents_cached([d.dense_text for d in changed], embedder=embedder)
                    stats.embed_seconds += time.perf_counter() - mark
                    todo.extend(d.mal_id for d in changed)
                if progress:
                    progress(len(chunk))
            if full:
                gone.extend(sorted(live.ids() - set(wanted)))
            stats.generation = live.generation
    except IndexMissing:
        stats.missing = True
        stats.unchanged = 0
        stats.seconds = time.perf_counter() - started
        return stats
    if todo or gone:
        with engine().writing(base) as collection:
            # Read again under the writer: what another writer stored meanwhile, and the latest
            # committed state of each anime (so an older state never overwrites a newer one).
            for chunk, documents in _documents(todo):
                present = {d.mal_id for d in documents}
                gone.extend(i for i in chunk if i not in present)
                stored = _stored_hashes(collection, [d.mal_id for d in documents])
                changed = [d for d in documents if stored.get(d.mal_id) != d.doc_hash]
                stats.unchanged += len(documents) - len(changed)
                mark = time.perf_counter()
                collection.upsert(_points(changed, embedder))
                stats.embed_seconds += time.perf_counter() - mark
                stats.indexed += len(changed)
            still_gone = set(gone) - set(Anime.objects.filter(mal_id__in=gone).values_list("mal_id", flat=True))
            stored_gone = sorted(r.id for r in collection.retrieve(sorted(still_gone)))
            collection.delete(stored_gone)
            stats.deleted = len(stored_gone)
            stats.generation = collection.generation
    stats.seconds = time.perf_counter() - started
    return stats


# ---------------------------------------------------------------------------- build a new generation


class IndexBuildInProgress(Exception):
    """Another full build of this index is running."""


def index_build_claim(*, triggered_by: str = "command", embedder: Embedder | None = None) -> IndexBuild:
    """Claim the one build slot of the index (a unique constraint referees between processes).
    A build that stopped sending progress is marked failed first."""
    base = index_base(embedder)
    now = timezone.now()
    IndexBuild.objects.running().filter(index=base, heartbeat_at__lt=now - BUILD_STALE_AFTER).update(
        status=IndexBuild.Status.FAILED,
        error="Abandoned: its process stopped sending progress.",
        finished_at=now,
    )
    for build in IndexBuild.objects.running().filter(index=base):
        if build.owner and owner_gone(build.owner):
            IndexBuild.objects.filter(pk=build.pk, status=IndexBuild.Status.RUNNING).update(
                status=IndexBuild.Status.FAILED, error="Abandoned: its process is gone.", finished_at=now
            )
    try:
        with transaction.atomic():
            return IndexBuild.objects.create(
                index=base, triggered_by=triggered_by, total=Anime.objects.count(), owner=owner_token()
            )
    except IntegrityError:
        running = IndexBuild.objects.running().filter(index=base).first()
        detail = f" (build {running.pk}, {running.percent}% done)" if running else ""
        raise IndexBuildInProgress(f"The search index is already being built{detail}.") from None


class _BuildProgress:
    """Counts indexed anime into the build's row, at most once a second (also a heartbeat)."""

    def __init__(self, build: IndexBuild | None, forward: Callable[[int], None] | None) -> None:
        self.build = build
        self.forward = forward
        self.done = 0
        self.written_at = 0.0

    def __call__(self, count: int) -> None:
        self.done += count
        if self.forward:
            self.forward(count)
        if self.build is not None and time.monotonic() - self.written_at >= PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.build is not None:
            IndexBuild.objects.filter(pk=self.build.pk).update(done=self.done, heartbeat_at=timezone.now())
            self.written_at = time.monotonic()


def index_rebuild(
    *,
    build: IndexBuild | None = None,
    progress: Callable[[int], None] | None = None,
    use_cache: bool = True,
    slice: str = WHOLE,
) -> IndexStats:
    """Build a new generation of the whole catalogue (or, with ``slice="popular"``, of the popular
    slice) beside the live one, switch searches over to it atomically, remove old generations,
    then catch up with anime changed during the build.
    ``build``: the claimed ``IndexBuild`` row that records progress and the outcome."""
    started = time.perf_counter()
    embedder = get_embedder()
    base = index_base(embedder)
    stats = IndexStats()
    counter = _BuildProgress(build, progress)
    try:
        ids = popular_slice_ids() if slice == POPULAR else _catalogue_ids()
        if build is not None:
            IndexBuild.objects.filter(pk=build.pk).update(total=len(ids), stats={"slice": slice})
        generation_format = index_format() + _SLICE_SUFFIX[slice]
        with engine().building(base, schema=index_schema(embedder), format=generation_format) as collection:
            for chunk, documents in _documents(ids):
                mark = time.perf_counter()
                collection.upsert(_points(documents, embedder, use_cache=use_cache))
                stats.embed_seconds += time.perf_counter() - mark
                stats.indexed += len(documents)
                counter(len(chunk))
            stats.generation = collection.generation
        counter.flush()
        # Switched. Anime edited while the build ran were written to the previous generation:
        # one idempotent pass puts them into this one (for the popular slice, over the slice only:
        # a full pass would add the rest of the catalogue to it).
        catch_up = anime_index(ids if slice == POPULAR else None)
        stats.caught_up = catch_up.indexed + catch_up.deleted
    except BaseException as error:
        if build is not None:
            IndexBuild.objects.filter(pk=build.pk).update(
                status=IndexBuild.Status.FAILED,
                error=f"{type(error).__name__}: {error}"[:2000],
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
        raise
    stats.seconds = time.perf_counter() - started
    if build is not None:
        IndexBuild.objects.filter(pk=build.pk).update(
            status=IndexBuild.Status.SUCCEEDED,
            generation=stats.generation,
            done=counter.done,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            stats={
                "slice": slice,
                "indexed": stats.indexed,
                "caught_up": stats.caught_up,
                "seconds": round(stats.seconds, 2),
                "embed_seconds": round(stats.embed_seconds, 2),
            },
        )
    return stats


def index_needs_rebuild() -> bool:
    """True when no generation is live, or the live one holds another format than this code's."""
    live = engine().live(index_base())
    return live is None or live.format != index_format()


def index_update(
    *,
    rebuild: bool = False,
    triggered_by: str = "command",
    progress: Callable[[int], None] | None = None,
    on_slice: Callable[[str, int, IndexStats | None], None] | None = None,
) -> IndexStats:
    """What ``build_index`` does: a blue/green rebuild when asked, when nothing is live, when the
    live generation holds the popular slice only or when its format is not this code's; otherwise
    an idempotent update of the live one. With nothing live yet, the popular slice is built first
    and goes live, then the whole catalogue as the next generation. ``on_slice(slice, total,
    previous stats)`` is called before each step. Raises ``IndexBuildInProgress`` when a rebuild
    is needed and another is running."""
    if rebuild or index_needs_rebuild():
        popular = popular_slice_ids() if engine().live(index_base()) is None else []
        build = index_build_claim(triggered_by=triggered_by)
        stats = None
        if popular and len(popular) < Anime.objects.count():
            if on_slice:
                on_slice(POPULAR, len(popular), None)
            stats = index_rebuild(build=build, progress=progress, slice=POPULAR)
            build = index_build_claim(triggered_by=triggered_by)
        if on_slice:
            on_slice(WHOLE, Anime.objects.count(), stats)
        return index_rebuild(build=build, progress=progress)
    return anime_index(progress=progress)


# ---------------------------------------------------------------------------- reads


def index_count() -> int:
    """Points in the live generation (0 when none is live)."""
    try:
        with engine().reading(index_base()) as collection:
            return collection.count()
    except IndexMissing:
        return 0


def index_probe() -> dict[str, object]:
    """What /readyz reports: the live generation and its size, after one real query (a damaged
    shard fails here, not at the first search). Raises ``IndexMissing`` / ``EngineUnavailable``."""
    embedder = get_embedder()
    base = index_base(embedder)
    with engine().reading(base) as collection:
        points = collection.count()
        collection.query([VectorQuery(DENSE, [1.0] + [0.0] * (embedder.dimension - 1))], limit=1)
        _, format, _ = generation_parts(collection.generation)
        return {
            "mode": engine().kind,
            "index": base,
            "generation": collection.generation,
            "points": points,
            "slice": generation_slice(format),
        }


def index_build_running(embedder: Embedder | None = None) -> IndexBuild | None:
    """The build in progress for the index, if its process is alive."""
    build = (
        IndexBuild.objects.running()
        .filter(index=index_base(embedder), heartbeat_at__gte=timezone.now() - BUILD_STALE_AFTER)
        .first()
    )
    return None if build is None or (build.owner and owner_gone(build.owner)) else build
