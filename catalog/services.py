"""Writes to the catalogue. Every path that changes an anime (import, crawler, admin actions)
goes through these functions."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from catalog.franchise import franchise_key_for, franchise_keys
from catalog.importing import iter_files, read_records
from catalog.models import Anime, AnimeRelation, CatalogImport, Genre, Tag, TierThresholds
from catalog.records import FIELD_GROUPS, AnimeRecord, RecordError, mal_url_for, merge_records
from catalog.search.freshness import index_on_commit, touches_index
from catalog.tiers import Cutoffs, TierScheme, cutoffs_compute, reliably_rated
from catalog.vocabulary import MUSIC_TYPES
from jobs.owners import owner_token

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


# ---------------------------------------------------------------------------- what the catalogue keeps


def catalogue_refusal(record: AnimeRecord) -> str:
    """Why the catalogue leaves this anime out under the settings ("" when it keeps it): music
    videos, commercials and promotional videos, and adult titles, unless ``CATALOG_INCLUDE``
    names them. The importer and the crawler both ask here."""
    include = set(settings.CATALOG_INCLUDE)
    kind = record.fields.get("type", "")
    for name, types in MUSIC_TYPES.items():
        if kind in types and name not in include:
            return f"type {kind}"
    if record.adult and "adult" not in include:
        return "adult"
    return ""


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
    # The cut-offs come from the reliably rated anime only: a score from a handful of ratings
    # would drag the quartiles around.
    scores = list(Anime.objects.reliably_rated().values_list("score", flat=True))
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


def tier_for(score: float | None, reliable: bool, cutoffs: Cutoffs | None) -> str:
    """The tier an anime shows: only a reliably rated score is tiered (catalog/tiers.py)."""
    tier = cutoffs.tier_of(score) if cutoffs and reliable else None
    return tier.value if tier else ""


def anime_retier(*, cutoffs: Cutoffs) -> int:
    """Store each anime's tier under ``cutoffs``; only rows whose tier changes are written."""
    moves: dict[str, list[int]] = defaultdict(list)
    for mal_id, score, reliable, tier in Anime.objects.values_list("mal_id", "score", "score_reliable", "tier"):
        new_value = tier_for(score, reliable, cutoffs)
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


_GROUP_OF = {name: group for group in FIELD_GROUPS for name in group}


def _fresh_values(anime: Anime, record: AnimeRecord) -> dict[str, object]:
    """The record's values to store: all of them, or, from a record older than what is stored
    (an old file imported after a crawl), only those the anime lacks: each field keeps the
    freshest source that has it. A field group (a member count with its date) goes whole."""
    older = record.fetched_at and anime.fetched_at and record.fetched_at < anime.fetched_at
    if not older:
        return record.fields

    def empty(name: str) -> bool:
        return getattr(anime, _GROUP_OF.get(name, (name,))[0]) in (None, "", [])

    return {name: value for name, value in record.fields.items() if empty(name)}


def _derive(anime: Anime, genre_names: set[str], cutoffs: Cutoffs | None) -> list[str]:
    """Re-derive what follows from the stored values: adult, a reliable score, the tier."""
    changed = []
    adult = anime.rating.lower().startswith("rx") or "Hentai" in genre_names
    reliable = reliably_rated(anime.score, anime.scored_by, anime.members)
    tier = tier_for(anime.score, reliable, cutoffs)
    for name, value in (("adult", adult), ("score_reliable", reliable), ("tier", tier)):
        if getattr(anime, name) != value:
            setattr(anime, name, value)
            changed.append(name)
    return changed


def _apply_record(anime: Anime, record: AnimeRecord, cutoffs: Cutoffs | None, genre_names: set[str]) -> list[str]:
    """Copy the record's values onto an existing anime; returns the names of changed fields."""
    changed: list[str] = []
    for name, value in _fresh_values(anime, record).items():
        if getattr(anime, name) != value:
            setattr(anime, name, value)
            changed.append(name)
    if record.source and anime.provenance != record.source[:255]:
        anime.provenance = record.source[:255]
        changed.append("provenance")
    if "title" in changed and anime.relations_checked_at is None:
        key = _franchise_key(anime)  # the graph's key replaces it (franchise_keys_refresh)
        if key != anime.franchise_key:
            anime.franchise_key = key
            changed.append("franchise_key")
    return changed + _derive(anime, genre_names, cutoffs)


def _new_anime(record: AnimeRecord, cutoffs: Cutoffs | None) -> Anime:
    anime = Anime(mal_id=record.mal_id, **record.fields)
    anime.mal_url = anime.mal_url or mal_url_for(record.mal_id)
    anime.provenance = record.source[:255]
    anime.fetched_at = record.fetched_at
    anime.franchise_key = _franchise_key(anime)
    _derive(anime, {name for name, _ in record.genres}, cutoffs)
    return anime


def _tags_by_name(records: list[AnimeRecord]) -> dict[str, Tag]:
    wanted = {name for record in records for name in record.tags}
    by_name = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=name) for name in sorted(wanted) if name not in by_name]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        by_name = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    return by_name


class _ManyToMany:
    """The links of one many-to-many field (genres, tags) for a batch: what is stored, and the
    rows to replace."""

    def __init__(self, field: str, ids: Iterable[int]) -> None:
        self.through = getattr(Anime, field).through
        self.column = f"{getattr(Anime, field).field.m2m_reverse_field_name()}_id"
        self.stored: dict[int, set[int]] = defaultdict(set)
        for anime_id, other in self.through.objects.filter(anime_id__in=list(ids)).values_list("anime_id", self.column):
            self.stored[anime_id].add(other)
        self.relinked: list[int] = []
        self.rows: list[object] = []

    def link(self, mal_id: int, wanted: set[int], *, new: bool) -> bool:
        """Replace an anime's links with ``wanted`` (an empty set leaves them: a source without
        any says nothing). True when they change."""
        if not wanted or (not new and wanted == self.stored[mal_id]):
            return False
        if not new:
            self.relinked.append(mal_id)
        self.rows.extend(self.through(anime_id=mal_id, **{self.column: other}) for other in sorted(wanted))
        return True

    def save(self) -> None:
        if self.relinked:
            self.through.objects.filter(anime_id__in=self.relinked).delete()
        self.through.objects.bulk_create(self.rows, batch_size=1000)


class _Relations:
    """The related-anime links of a batch: replaced for an anime whose record lists them."""

    def __init__(self, ids: Iterable[int]) -> None:
        self.stored: dict[int, set[tuple[int, str]]] = defaultdict(set)
        for anime_id, related, relation in AnimeRelation.objects.filter(anime_id__in=list(ids)).values_list(
            "anime_id", "related_mal_id", "relation"
        ):
            self.stored[anime_id].add((related, relation))
        self.replaced: list[int] = []
        self.rows: list[AnimeRelation] = []

    def link(self, mal_id: int, relations: list[tuple[int, str]] | None, *, new: bool) -> bool:
        if relations is None or (not new and set(relations) == self.stored[mal_id]):
            return False
        if not new:
            self.replaced.append(mal_id)
        self.rows.extend(
            AnimeRelation(anime_id=mal_id, related_mal_id=related, relation=relation)
            for related, relation in sorted(set(relations))
        )
        return True

    def save(self) -> None:
        if self.replaced:
            AnimeRelation.objects.filter(anime_id__in=self.replaced).delete()
        AnimeRelation.objects.bulk_create(self.rows, batch_size=1000)


def _relations_checked(anime: Anime, record: AnimeRecord) -> dt.datetime | None:
    """When the record's relations were read, if they are to replace the stored ones (the
    record lists relations and is not older than the last ones read), else None."""
    if record.relations is None:
        return None
    checked = record.fetched_at or timezone.now()
    if anime.relations_checked_at is not None and checked < anime.relations_checked_at:
        return None
    return checked


def anime_upsert_many(
    *, records: list[AnimeRecord], cutoffs: Cutoffs | None = None, index: bool = True
) -> list[UpsertResult]:
    """Create or update anime from normalised records (distinct MAL ids), in one transaction.

    A field a record has overwrites the stored one, unless the record is older than what is
    stored (then it only fills what is missing); a field it lacks is left alone (so a sparse
    source never erases what a richer one stored). Genres, tags and related anime are replaced
    by a record that lists any. Unchanged records are not written, apart from moving
    ``fetched_at`` forward, so they are not re-indexed. Created anime, and those whose indexed
    fields changed, are (re-)indexed in search once the transaction commits (``index=False``:
    the caller batches that itself). A record the model rejects comes back as SKIPPED with the
    reason; the others are still stored. Franchise keys follow the relations once the caller
    runs ``franchise_keys_refresh``.
    """
    if cutoffs is None:
        current = TierThresholds.objects.current()
        cutoffs = current.cutoffs if current else None
    if len({r.mal_id for r in records}) != len(records):
        raise ValueError("anime_upsert_many needs distinct MAL ids; merge_records first")
    results: list[UpsertResult] = []
    with transaction.atomic():
        genre_by_name = _genres_by_name(records)
        tag_by_name = _tags_by_name(records)
        genre_names = dict(Genre.objects.values_list("pk", "name"))
        ids = [r.mal_id for r in records]
        existing = Anime.objects.select_for_update().in_bulk(ids)
        genres, tags, relations = _ManyToMany("genres", existing), _ManyToMany("tags", existing), _Relations(existing)
        to_create: list[Anime] = []
        touched: dict[object, list[int]] = defaultdict(list)
        rechecked: dict[object, list[int]] = defaultdict(list)
        for record in records:
            wanted_genres = {genre_by_name[name].pk for name, _ in record.genres}
            wanted_tags = {tag_by_name[name].pk for name in record.tags}
            anime = existing.get(record.mal_id)
            try:
                if anime is None:
                    anime = _new_anime(record, cutoffs)
                    if record.relations is not None:
                        anime.relations_checked_at = record.fetched_at or timezone.now()
                    anime.full_clean(exclude=["genres", "tags"], validate_unique=False, validate_constraints=False)
                    to_create.append(anime)
                    genres.link(anime.mal_id, wanted_genres, new=True)
                    tags.link(anime.mal_id, wanted_tags, new=True)
                    relations.link(anime.mal_id, record.relations, new=True)
                    results.append(UpsertResult(record.mal_id, CREATED, (*sorted(record.fields), "genres")))
                    continue
                names = {genre_names[g] for g in (wanted_genres or genres.stored[anime.mal_id])}
                changed = _apply_record(anime, record, cutoffs, names)
                checked = _relations_checked(anime, record)
                if checked is not None:
                    if relations.link(anime.mal_id, record.relations, new=False):
                        changed.append("relations")
                    if "relations" in changed or anime.relations_checked_at is None:
                        anime.relations_checked_at = checked
                        changed.append("relations_checked_at")
                    elif checked != anime.relations_checked_at:
                        rechecked[checked].append(anime.mal_id)  # the same relations, seen again
                newer_fetch = record.fetched_at and (anime.fetched_at is None or record.fetched_at > anime.fetched_at)
                links_changed = [
                    name
                    for name, links, wanted in (("genres", genres, wanted_genres), ("tags", tags, wanted_tags))
                    if links.link(anime.mal_id, wanted, new=False)
                ]
                if not changed and not links_changed:
                    if newer_fetch:
                        touched[record.fetched_at].append(anime.mal_id)
                    results.append(UpsertResult(record.mal_id, UNCHANGED))
                    continue
                if newer_fetch:
                    anime.fetched_at = record.fetched_at
                    changed.append("fetched_at")
                anime.full_clean(exclude=["genres", "tags"], validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                # A value the model rejects (an over-long title, a bad URL) skips the record.
                logger.warning("skipped MAL id %s: %s", record.mal_id, exc)
                results.append(UpsertResult(record.mal_id, SKIPPED, reason="invalid record"))
                continue
            saved = [name for name in changed if name != "relations"]
            if saved:
                anime.save(update_fields=[*saved, "updated_at"])
            results.append(UpsertResult(record.mal_id, UPDATED, (*changed, *links_changed)))

        Anime.objects.bulk_create(to_create, batch_size=500)
        for links in (genres, tags, relations):
            links.save()
        for fetched_at, touched_ids in touched.items():
            Anime.objects.filter(mal_id__in=touched_ids).update(fetched_at=fetched_at)
        for checked_at, checked_ids in rechecked.items():
            Anime.objects.filter(mal_id__in=checked_ids).update(relations_checked_at=checked_at)
        if index:
            index_on_commit(
                r.mal_id
                for r in results
                if r.status == CREATED or (r.status == UPDATED and touches_index(r.changed_fields))
            )
    return results


def anime_derived_refresh(*, anime: Anime) -> list[str]:
    """After an edit by hand (the admin): store what follows from the anime's values (adult, a
    reliable score, the tier). Returns the fields that changed."""
    current = TierThresholds.objects.current()
    changed = _derive(anime, set(anime.genres.values_list("name", flat=True)), current.cutoffs if current else None)
    if changed:
        anime.save(update_fields=[*changed, "updated_at"])
    return changed


def franchise_keys_refresh() -> int:
    """Re-derive every anime's franchise key from the related-anime graph (catalog/franchise.py)
    and store the ones that change, re-indexing those (the key is in the search payload); a
    staff override wins. Runs after an import, a crawl and an override. Returns how many changed."""
    rows = Anime.objects.values_list("mal_id", "title", "title_english", "year", "relations_checked_at")
    entries = {mal_id: (title, english, year, checked is not None) for mal_id, title, english, year, checked in rows}
    links = AnimeRelation.objects.values_list("anime_id", "related_mal_id", "relation")
    derived = franchise_keys(entries, links.iterator(chunk_size=5000))
    moves: dict[str, list[int]] = defaultdict(list)
    for mal_id, key, override in Anime.objects.values_list("mal_id", "franchise_key", "franchise_override"):
        wanted = override or derived[mal_id]
        if wanted != key:
            moves[wanted].append(mal_id)
    with transaction.atomic():
        for key, ids in moves.items():
            Anime.objects.filter(mal_id__in=ids).update(franchise_key=key)
        index_on_commit(mal_id for ids in moves.values() for mal_id in ids)
    return sum(len(ids) for ids in moves.values())


def anime_franchise_refresh(*, anime: Anime) -> bool:
    """After an admin override: re-derive the keys. True when this anime's changed."""
    before = anime.franchise_key
    franchise_keys_refresh()
    anime.franchise_key = Anime.objects.values_list("franchise_key", flat=True).get(mal_id=anime.mal_id)
    return anime.franchise_key != before


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
    franchises_changed: int = 0
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


class _ImportProgress:
    """Writes an import's progress into its ``CatalogImport`` row, at most once a second."""

    def __init__(self, run: CatalogImport, forward: Callable[[int, int], None] | None) -> None:
        self.run, self.forward, self.written_at = run, forward, 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.forward:
            self.forward(done, total)
        if time.monotonic() - self.written_at >= 1.0 or done == total:
            CatalogImport.objects.filter(pk=self.run.pk).update(done=done, total=total)
            self.written_at = time.monotonic()


def anime_import_recorded(
    *, paths: list[Path], progress: Callable[[int, int], None] | None = None, **options: int
) -> ImportSummary:
    """``anime_import`` with a ``CatalogImport`` row that tells the pages how far it is (the
    command's way: ``make run`` serves while its first import fills the catalogue)."""
    run = CatalogImport.objects.create(owner=owner_token(), paths=", ".join(str(p) for p in paths))
    try:
        summary = anime_import(paths=paths, progress=_ImportProgress(run, progress), **options)
    except BaseException as error:
        CatalogImport.objects.filter(pk=run.pk).update(
            status=CatalogImport.Status.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    CatalogImport.objects.filter(pk=run.pk).update(
        status=CatalogImport.Status.SUCCEEDED,
        finished_at=timezone.now(),
        summary={
            "read": summary.read,
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "skipped": dict(summary.skipped),
            "filtered": dict(summary.filtered),
        },
    )
    return summary


def anime_import(
    *,
    paths: list[Path],
    min_members: int = 0,
    min_scored_by: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import catalogue files: read, merge per MAL id, filter (what the catalogue leaves out,
    and the optional thresholds), upsert, re-key franchises, re-tier. The best known anime go
    first, so a site serving during a first import shows them early."""
    summary = ImportSummary()
    grouped = _collect(paths, summary)
    merged: list[AnimeRecord] = []
    for records in grouped.values():
        record = merge_records(records)
        members = record.fields.get("members")
        refusal = catalogue_refusal(record)
        if "title" not in record.fields:
            # A member estimate of an anime no catalogue file describes: nothing to show.
            summary.filtered["member estimate only"] += 1
        elif refusal:
            summary.filtered[refusal] += 1
        elif members is None and min_members > 0:
            summary.filtered["members unknown"] += 1
        elif members is not None and members < min_members:
            summary.filtered[f"members < {min_members:,}"] += 1
        elif min_scored_by > 0 and (record.fields.get("scored_by") or 0) < min_scored_by:
            summary.filtered[f"scored_by < {min_scored_by:,}"] += 1
        else:
            merged.append(record)
    current = TierThresholds.objects.current()
    cutoffs = current.cutoffs if current else None
    merged.sort(key=lambda r: (-(r.fields.get("members") or -1), r.mal_id))
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
    summary.franchises_changed = franchise_keys_refresh()
    summary.thresholds, summary.tiers_changed = tier_thresholds_recompute()
    if not summary.tiers_changed:  # otherwise the recompute already re-indexed everything
        index_on_commit(to_index)
    return summary
