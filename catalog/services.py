"""Writes to the catalogue. Every path that changes an anime (import, crawler, admin actions)
goes through these functions."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from catalog.franchise import franchise_key_for
from catalog.importing import iter_files, read_records
from catalog.models import Anime, Genre, TierThresholds
from catalog.records import AnimeRecord, RecordError, merge_records
from catalog.tiers import Cutoffs, TierScheme, cutoffs_compute

logger = logging.getLogger(__name__)

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class UpsertResult:
    mal_id: int
    status: str
    changed_fields: tuple[str, ...] = ()


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


def tier_thresholds_current() -> TierThresholds | None:
    return TierThresholds.objects.order_by("-computed_at", "-id").first()


def _franchise_key(anime: Anime) -> str:
    return anime.franchise_override or franchise_key_for(anime.title)


def tier_thresholds_recompute(*, scheme: str | None = None) -> tuple[TierThresholds | None, int]:
    """Recompute the cut-offs (quartiles of the current scores, or the seed's fixed ones) and
    re-tier every anime. Returns the thresholds in force and how many anime changed tier.
    A new thresholds row is stored only when the cut-offs or the scheme change."""
    current = tier_thresholds_current()
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
    return current, changed


def anime_retier(*, cutoffs: Cutoffs) -> int:
    """Store each anime's tier under ``cutoffs``; only rows whose tier changes are written."""
    changed = 0
    for mal_id, score, tier in Anime.objects.values_list("mal_id", "score", "tier"):
        new = cutoffs.tier_of(score)
        new_value = new.value if new else ""
        if new_value != tier:
            changed += Anime.objects.filter(mal_id=mal_id).update(tier=new_value)
    return changed


def tier_distribution() -> dict[str, int]:
    rows = Anime.objects.values("tier").annotate(n=Count("mal_id"))
    return {row["tier"]: row["n"] for row in rows}


# ---------------------------------------------------------------------------- upsert


def anime_upsert(*, record: AnimeRecord, cutoffs: Cutoffs | None = None) -> UpsertResult:
    """Create or update one anime from a normalised record.

    A field the record has overwrites the stored one; a field it lacks is left alone (so a
    sparse source never erases what a richer one stored). Unchanged records are not written,
    apart from moving ``fetched_at`` forward, so they are not re-indexed.
    """
    if cutoffs is None:
        current = tier_thresholds_current()
        cutoffs = current.cutoffs if current else None
    genres = genres_ensure(record.genres)
    with transaction.atomic():
        anime = Anime.objects.select_for_update().filter(mal_id=record.mal_id).first()
        if anime is None:
            anime = Anime(mal_id=record.mal_id, **record.fields)
            anime.provenance = record.source[:255]
            anime.fetched_at = record.fetched_at
            anime.franchise_key = _franchise_key(anime)
            tier = cutoffs.tier_of(anime.score) if cutoffs else None
            anime.tier = tier.value if tier else ""
            anime.full_clean(exclude=["genres"], validate_unique=False, validate_constraints=False)
            anime.save(force_insert=True)
            anime.genres.set(genres)
            return UpsertResult(record.mal_id, CREATED, tuple(sorted(record.fields)) + ("genres",))

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
            anime.tier = tier.value if tier else ""
            changed.append("tier")
        genres_changed = bool(genres) and {g.pk for g in genres} != set(anime.genres.values_list("pk", flat=True))
        newer_fetch = record.fetched_at and (anime.fetched_at is None or record.fetched_at > anime.fetched_at)
        if not changed and not genres_changed:
            if newer_fetch:
                Anime.objects.filter(mal_id=anime.mal_id).update(fetched_at=record.fetched_at)
            return UpsertResult(record.mal_id, UNCHANGED)
        if newer_fetch:
            anime.fetched_at = record.fetched_at
            changed.append("fetched_at")
        anime.full_clean(exclude=["genres"], validate_unique=False, validate_constraints=False)
        anime.save(update_fields=[*changed, "updated_at"])
        if genres_changed:
            anime.genres.set(genres)
            changed.append("genres")
        return UpsertResult(record.mal_id, UPDATED, tuple(changed))


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
    current = tier_thresholds_current()
    cutoffs = current.cutoffs if current else None
    total = len(merged)
    for done, record in enumerate(sorted(merged, key=lambda r: r.mal_id), 1):
        try:
            result = anime_upsert(record=record, cutoffs=cutoffs)
        except RecordError as exc:
            summary.skipped[exc.reason] += 1
            logger.warning("skipped MAL id %s: %s", record.mal_id, exc)
        except ValidationError as exc:
            # A value the model rejects (an over-long title, a bad URL) skips the record;
            # it never aborts the run.
            summary.skipped["invalid record"] += 1
            logger.warning("skipped MAL id %s: %s", record.mal_id, exc)
        else:
            if result.status == CREATED:
                summary.created += 1
            elif result.status == UPDATED:
                summary.updated += 1
            else:
                summary.unchanged += 1
            if result.status != UNCHANGED:
                summary.changed_ids.append(record.mal_id)
        if progress:
            progress(done, total)
    summary.thresholds, summary.tiers_changed = tier_thresholds_recompute()
    return summary
