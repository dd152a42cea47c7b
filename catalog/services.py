"""Writes to the catalogue. Every path that changes an anime (import, crawler, admin actions)
goes through these functions."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count

from catalog.franchise import franchise_key_for
from catalog.importing import iter_files, read_records
from catalog.models import Anime, Genre, TierThresholds
from catalog.records import AnimeRecord, RecordError, mal_url_for, merge_records
from catalog.search.freshness import index_on_commit, touches_index
from catalog.tiers import Cutoffs, TierScheme, cutoffs_compute

logger = logging.getLogger(__name__)

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
SKIPPED = "skipped"


@dataclass(frozen=True)
class UpsertResult:
    mal_id: int
    status: str
    changed_fields: tuple[str, ...] = ()
    reason: str = ""


# ---------------------------------------------------------------------------- genres


def genres_ensure(pairs: Iterable[tuple[str, str]]) -> list[Genre]:
    """Get or create the genres named in ``pairs`` of (name, kind). A name keeps the kind it
    was first stored with, so one name never becomes two genres."""
    genres: list[Genre] = []
    for name, kind in pairs:
        genre, _ = Genre.objects.get_or_create(name=name, defaults={"kind": kind})
        genres.append(genre)
    return genres


# ---------------------------------------------------------------------------- tiers


def _franchise_key(anime: Anime) -> str:
    return anime.franchise_override or franchise_key_for(anime.title)


def tier_thresholds_recompute(*, scheme: str | None = None) -> tuple[TierThresholds | None, int]:
    """Recompute the cut-offs (quartiles of the current scores, or the seed's fixed ones) and
    re-tier every anime. Returns the thresholds in force and how many anime changed tier.
    A new thresholds row is stored only when the cut-offs or the scheme change."""
    current = TierThresholds.objects.current()
    scheme = scheme or (current.scheme if current else TierScheme.QUARTILES)
    scores = list(Anime.objects.scored().values_list("score", flat=True))
    if scheme == TierScheme.QUARTILES and len(scores) < 2:
        return current, 0
    cutoffs = cutoffs_compute(scheme=scheme, scores=scores)
    with transaction.atomic():
        if current is None or current.scheme != scheme or current.cutoffs != cutoffs:
            current = TierThresholds.objects.create(
                scheme=scheme,
                watchable_min=cutoffs.watchable,
                worthwhile_min=cutoffs.worthwhile,
                top_tier_min=cutoffs.top_tier,
                scored_count=len(scores),
            )
        changed = anime_retier(cutoffs=cutoffs)
        if changed:
            # The tier is in the search payload; unchanged points are skipped cheaply.
            index_on_commit(Anime.objects.values_list("mal_id", flat=True))
    return current, changed


def anime_retier(*, cutoffs: Cutoffs) -> int:
    """Store each anime's tier under ``cutoffs``; only rows whose tier changes are written."""
    moves: dict[str, list[int]] = defaultdict(list)
    for mal_id, score, tier in Anime.objects.values_list("mal_id", "score", "tier"):
        new = cutoffs.tier_of(score)
        new_value = new.value if new else ""
        if new_value != tier:
            moves[new_value].append(mal_id)
    changed = 0
    for tier, ids in moves.items():
        for start in range(0, len(ids), 500):
            changed += Anime.objects.filter(mal_id__in=ids[start : start + 500]).update(tier=tier)
    return changed


def tier_distribution() -> dict[str, int]:
    rows = Anime.objects.values("tier").annotate(n=Count("mal_id"))
    return {row["tier"]: row["n"] for row in rows}


# ---------------------------------------------------------------------------- upsert


def anime_upsert(*, record: AnimeRecord, cutoffs: Cutoffs | None = None, index: bool = True) -> UpsertResult:
    """Create or update one anime from a normalised record (see ``anime_upsert_many``).
    Raises ``RecordError`` when the model rejects the record's values."""
    try:
        result = anime_upsert_many(records=[record], cutoffs=cutoffs, index=index)[0]
    except IntegrityError:
        # Another process created this anime between our read and our insert: it exists now,
        # so the second attempt takes the update path.
        result = anime_upsert_many(records=[record], cutoffs=cutoffs, index=index)[0]
    if result.status == SKIPPED:
        raise RecordError(result.reason, f"MAL id {record.mal_id}")
    return result


def _genres_by_name(records: list[AnimeRecord]) -> dict[str, Genre]:
    """Every genre the records name, created where missing. A name keeps the kind it was first
    stored with, so one name never becomes two genres."""
    wanted: dict[str, str] = {}
    for record in records:
        for name, kind in record.genres:
            wanted.setdefault(name, kind)
    by_name = {g.name: g for g in Genre.objects.filter(name__in=wanted)}
    missing = [Genre(name=name, kind=kind) for name, kind in wanted.items() if name not in by_name]
    if missing:
        Genre.objects.bulk_create(missing, ignore_conflicts=True)
        by_name = {g.name: g for g in Genre.objects.filter(name__in=wanted)}
    return by_name


def _apply_record(anime: Anime, record: AnimeRecord, cutoffs: Cutoffs | None) -> list[str]:
    """Copy the record's values onto an existing anime; returns the names of changed fields."""
    changed: list[str] = []
    for name, value in record.fields.items():
        if getattr(anime, name) != value:
            setattr(anime, name, value)
            changed.append(name)
    if record.source and anime.provenance != record.source[:255]:
        anime.provenance = record.source[:255]
        changed.append("provenance")
    if "title" in changed:
        key = _franchise_key(anime)
        if key != anime.franchise_key:
            anime.franchise_key = key
            changed.append("franchise_key")
    if "score" in changed and cutoffs:
        tier = cutoffs.tier_of(anime.score)
        if (tier.value if tier else "") != anime.tier:
            anime.tier = tier.value if tier else ""
            changed.append("tier")
    return changed


def _new_anime(record: AnimeRecord, cutoffs: Cutoffs | None) -> Anime:
    anime = Anime(mal_id=record.mal_id, **record.fields)
    anime.mal_url = anime.mal_url or mal_url_for(record.mal_id)
    anime.provenance = record.source[:255]
    anime.fetched_at = record.fetched_at
    anime.franchise_key = _franchise_key(anime)
    tier = cutoffs.tier_of(anime.score) if cutoffs else None
    anime.tier = tier.value if tier else ""
    return anime


def anime_upsert_many(
    *, records: list[AnimeRecord], cutoffs: Cutoffs | None = None, index: bool = True
) -> list[UpsertResult]:
    """Create or update anime from normalised records (distinct MAL ids), in one transaction.

    A field a record has overwrites the stored one; a field it lacks is left alone (so a sparse
    source never erases what a richer one stored). Unchanged records are not written, apart
    from moving ``fetched_at`` forward, so they are not re-indexed. Created anime, and those
    whose indexed fields changed, are (re-)indexed in search once the transaction commits
    (``index=False``: the caller batches that itself). A record the model rejects comes back
    as SKIPPED with the reason; the others are still stored.
    """
    if cutoffs is None:
        current = TierThresholds.objects.current()
        cutoffs = current.cutoffs if current else None
    if len({r.mal_id for r in records}) != len(records):
        raise ValueError("anime_upsert_many needs distinct MAL ids; merge_records first")
    through = Anime.genres.through
    results: list[UpsertResult] = []
    with transaction.atomic():
        genre_by_name = _genres_by_name(records)
        ids = [r.mal_id for r in records]
        existing = Anime.objects.select_for_update().in_bulk(ids)
        stored_genres: dict[int, set[int]] = defaultdict(set)
        for anime_id, genre_id in through.objects.filter(anime_id__in=existing).values_list("anime_id", "genre_id"):
            stored_genres[anime_id].add(genre_id)

        to_create: list[Anime] = []
        links: list[object] = []
        relinked: list[int] = []
        touched: dict[object, list[int]] = defaultdict(list)
        for record in records:
            wanted = {genre_by_name[name].pk for name, _ in record.genres}
            anime = existing.get(record.mal_id)
            try:
                if anime is None:
                    anime = _new_anime(record, cutoffs)
                    anime.full_clean(exclude=["genres"], validate_unique=False, validate_constraints=False)
                    to_create.append(anime)
                    links.extend(through(anime_id=anime.mal_id, genre_id=g) for g in sorted(wanted))
                    results.append(UpsertResult(record.mal_id, CREATED, (*sorted(record.fields), "genres")))
                    continue
                changed = _apply_record(anime, record, cutoffs)
                genres_changed = bool(wanted) and wanted != stored_genres[anime.mal_id]
                newer_fetch = record.fetched_at and (anime.fetched_at is None or record.fetched_at > anime.fetched_at)
                if not changed and not genres_changed:
                    if newer_fetch:
                        touched[record.fetched_at].append(anime.mal_id)
                    results.append(UpsertResult(record.mal_id, UNCHANGED))
                    continue
                if newer_fetch:
                    anime.fetched_at = record.fetched_at
                    changed.append("fetched_at")
                anime.full_clean(exclude=["genres"], validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                # A value the model rejects (an over-long title, a bad URL) skips the record.
                logger.warning("skipped MAL id %s: %s", record.mal_id, exc)
                results.append(UpsertResult(record.mal_id, SKIPPED, reason="invalid record"))
                continue
            if changed:
                anime.save(update_fields=[*changed, "updated_at"])
            if genres_changed:
                relinked.append(anime.mal_id)
                links.extend(through(anime_id=anime.mal_id, genre_id=g) for g in sorted(wanted))
                changed.append("genres")
            results.append(UpsertResult(record.mal_id, UPDATED, tuple(changed)))

        Anime.objects.bulk_create(to_create, batch_size=500)
        if relinked:
            through.objects.filter(anime_id__in=relinked).delete()
        through.objects.bulk_create(links, batch_size=1000)
        for fetched_at, touched_ids in touched.items():
            Anime.objects.filter(mal_id__in=touched_ids).update(fetched_at=fetched_at)
        if index:
            index_on_commit(
                r.mal_id
                for r in results
                if r.status == CREATED or (r.status == UPDATED and touches_index(r.changed_fields))
            )
    return results


def anime_franchise_refresh(*, anime: Anime) -> bool:
    """Re-derive one anime's franchise key (after an admin override). True when it changed."""
    key = _franchise_key(anime)
    if key == anime.franchise_key:
        return False
    Anime.objects.filter(mal_id=anime.mal_id).update(franchise_key=key)
    anime.franchise_key = key
    return True


# ---------------------------------------------------------------------------- import


@dataclass
class ImportSummary:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    filtered: Counter[str] = field(default_factory=Counter)
    tiers_changed: int = 0
    thresholds: TierThresholds | None = None
    changed_ids: list[int] = field(default_factory=list)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _collect(paths: list[Path], summary: ImportSummary) -> dict[int, list[AnimeRecord]]:
    """Read every record, grouped by MAL id; a record that repeats an id of the same source
    with other values is a conflicting duplicate and is skipped."""
    by_id: dict[int, list[AnimeRecord]] = {}
    for path in iter_files(paths):
        for result in read_records(path):
            summary.read += 1
            if result.error is not None:
                summary.skipped[result.error.reason] += 1
                logger.info("skipped %s: %s", result.origin, result.error)
                continue
            record = result.record
            assert record is not None
            group = by_id.setdefault(record.mal_id, [])
            twin = next((r for r in group if r.source == record.source), None)
            if twin is None:
                group.append(record)
            elif twin.fields != record.fields or twin.genres != record.genres:
                summary.skipped["conflicting duplicate"] += 1
                logger.info("skipped %s: conflicting duplicate of MAL id %s", result.origin, record.mal_id)
    return by_id


# One transaction per batch: a crash loses at most one batch, and SQLite is not asked to
# fsync once per anime (that alone made the first import take over a minute).
IMPORT_BATCH = 250


def anime_import(
    *,
    paths: list[Path],
    min_members: int = 100_000,
    min_scored_by: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import catalogue files: read, merge per MAL id, filter, upsert, re-tier."""
    summary = ImportSummary()
    grouped = _collect(paths, summary)
    merged: list[AnimeRecord] = []
    for records in grouped.values():
        record = merge_records(records)
        members = record.fields.get("members")
        if members is None and min_members > 0:
            summary.filtered["members unknown"] += 1
        elif members is not None and members < min_members:
            summary.filtered[f"members < {min_members:,}"] += 1
        elif min_scored_by > 0 and (record.fields.get("scored_by") or 0) < min_scored_by:
            summary.filtered[f"scored_by < {min_scored_by:,}"] += 1
        else:
            merged.append(record)
    current = TierThresholds.objects.current()
    cutoffs = current.cutoffs if current else None
    merged.sort(key=lambda r: r.mal_id)
    to_index: list[int] = []
    for start in range(0, len(merged), IMPORT_BATCH):
        batch = merged[start : start + IMPORT_BATCH]
        for result in anime_upsert_many(records=batch, cutoffs=cutoffs, index=False):
            if result.status == SKIPPED:
                summary.skipped[result.reason] += 1
                continue
            if result.status == CREATED:
                summary.created += 1
            elif result.status == UPDATED:
                summary.updated += 1
            else:
                summary.unchanged += 1
            if result.status != UNCHANGED:
                summary.changed_ids.append(result.mal_id)
            if result.status == CREATED or touches_index(result.changed_fields):
                to_index.append(result.mal_id)
        if progress:
            progress(min(start + IMPORT_BATCH, len(merged)), len(merged))
    summary.thresholds, summary.tiers_changed = tier_thresholds_recompute()
    if not summary.tiers_changed:  # otherwise the recompute already re-indexed everything
        index_on_commit(to_index)
    return summary
