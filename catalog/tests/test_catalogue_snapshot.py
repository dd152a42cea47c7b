"""The catalogue snapshot of the test sessions (conftest.py's ``catalog_snapshot``,
testsupport/snapshot.py): after a transactional test flushed the database, the next one gets the
session's import back as a copy of its rows instead of a second import. The copy must be that
import exactly: every table it wrote, every row, every column, and ids that do not collide."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.color import no_style
from django.db import connection, models

from catalog.models import Anime, AnimeRelation, EmbeddingCache, Genre, IndexBuild, Tag, TierThresholds
from conftest import catalogue_models
from evaluator.models import TrainingRun
from testsupport.snapshot import tables_restore

# Tables that hold rows in the session database besides the catalogue's, none of them written by
# the import: the migrations' content types and permissions, and what session fixtures commit
# (the embedding cache and index builds of the search fixtures, the evaluator's trained run).
NOT_IMPORTED = {ContentType, Permission, EmbeddingCache, IndexBuild, TrainingRun}


def _rows(model: type[models.Model]) -> list[tuple]:
    """Every row, every column, read through the model (not the way the snapshot reads them)."""
    fields = [field.attname for field in model._meta.concrete_fields]
    return list(model.objects.order_by("pk").values_list(*fields))


def test_the_snapshot_holds_every_table_the_import_wrote(catalog, catalog_snapshot):
    snapshot_tables = {rows.model for rows in catalog_snapshot.tables}
    filled = {model for model in apps.get_models(include_auto_created=True) if model.objects.exists()}
    assert filled - snapshot_tables <= NOT_IMPORTED, "a table the import writes is missing from the snapshot"
    assert {Genre, Tag, Anime, Anime.genres.through, Anime.tags.through, AnimeRelation, TierThresholds} <= filled
    assert catalog_snapshot.counts() == {model._meta.db_table: model.objects.count() for model in catalogue_models()}
    assert catalog_snapshot.counts()[Anime._meta.db_table] == 21_842


def test_restoring_the_snapshot_gives_back_the_imported_rows_exactly(catalog, catalog_snapshot):
    imported = {model._meta.db_table: _rows(model) for model in catalogue_models()}
    frieren = Anime.objects.get(mal_id=52991)
    frieren_genres = sorted(frieren.genres.values_list("name", flat=True))
    frieren_tags = sorted(frieren.tags.values_list("name", flat=True))
    # Emptied the way a flush would, then restored.
    for model in reversed(catalogue_models()):
        model.objects.all().delete()
    assert all(not model.objects.exists() for model in catalogue_models())

    tables_restore(catalog_snapshot)

    restored = {model._meta.db_table: _rows(model) for model in catalogue_models()}
    assert {table: len(rows) for table, rows in restored.items()} == {
        table: len(rows) for table, rows in imported.items()
    }
    for table, rows in imported.items():
        assert restored[table] == rows, f"{table} differs after the restore"
    restored_frieren = Anime.objects.get(mal_id=52991)
    assert [getattr(restored_frieren, f.attname) for f in Anime._meta.concrete_fields] == [
        getattr(frieren, f.attname) for f in Anime._meta.concrete_fields
    ]
    assert sorted(restored_frieren.genres.values_list("name", flat=True)) == frieren_genres
    assert sorted(restored_frieren.tags.values_list("name", flat=True)) == frieren_tags
    assert frieren_genres and frieren_tags
    assert (
        TierThresholds.objects.current().cutoffs
        == TierThresholds.objects.get(pk=max(row[0] for row in imported[TierThresholds._meta.db_table])).cutoffs
    )


@pytest.mark.parametrize("model", [Genre, Tag, AnimeRelation, TierThresholds])
def test_new_rows_after_a_restore_get_ids_past_the_restored_ones(catalog, catalog_snapshot, model):
    highest = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    # Emptied the way a flush that resets the sequences does (a TransactionTestCase's
    # reset_sequences): the next id would be 1 again without the restore's own reset.
    tables = [each._meta.db_table for each in catalogue_models()]
    connection.ops.execute_sql_flush(
        connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=True)
    )
    assert not model.objects.exists()
    tables_restore(catalog_snapshot)

    if model is Genre:
        row = Genre.objects.create(name="Snapshot test", kind=Genre.Kind.THEME)
    elif model is Tag:
        row = Tag.objects.create(name="Snapshot test")
    elif model is AnimeRelation:
        row = AnimeRelation.objects.create(anime_id=52991, related_mal_id=1, relation="other")
    else:
        row = TierThresholds.objects.create(watchable_min=6.5, worthwhile_min=7.0, top_tier_min=7.5)
    assert row.pk > highest
