"""Snapshots of whole tables, taken once and put back many times: the catalogue a test session
imports (~25 s) is restored in about a second after a transactional test (live server, Celery
worker) flushed the database.

The rows are copied as the database stores them, not through the models: PostgreSQL's
``COPY ... TO STDOUT`` (its text format, kept in memory) and ``COPY ... FROM STDIN``; elsewhere
(SQLite) a ``SELECT`` of the stored values and an ``executemany`` ``INSERT``. Either way every column of every row
comes back identical, timestamps included, and the sequences of the tables' ids are moved past the
restored ids so that the next insert does not collide with them."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.core.management.color import no_style
from django.db import connections, models, transaction

COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class TableRows:
    model: type[models.Model]
    columns: tuple[str, ...]
    # PostgreSQL: the table in COPY's text format; other databases: the rows as tuples.
    data: bytes | list[tuple]
    count: int

    @property
    def table(self) -> str:
        return self.model._meta.db_table


@dataclass(frozen=True)
class TablesSnapshot:
    """Tables in the order they are restored (a table after the tables it refers to)."""

    tables: tuple[TableRows, ...]
    using: str = "default"

    def counts(self) -> dict[str, int]:
        return {t.table: t.count for t in self.tables}


def _columns(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.column for field in model._meta.concrete_fields)


def _quoted(connection, names: tuple[str, ...]) -> str:
    return ", ".join(connection.ops.quote_name(name) for name in names)


def tables_snapshot(model_list: list[type[models.Model]], *, using: str = "default") -> TablesSnapshot:
    """Every row of each model's table (an m2m field's ``through`` model counts as a model), in
    the order given: list a table after the tables its foreign keys point to."""
    connection = connections[using]
    tables = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for model in model_list:
            columns = _columns(model)
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            count = cursor.fetchone()[0]
            if connection.vendor == "postgresql":
                buffer = io.BytesIO()
                cursor.copy_expert(f"COPY {table} ({_quoted(connection, columns)}) TO STDOUT", buffer)
                data: bytes | list[tuple] = buffer.getvalue()
            else:
                # ``+column`` (a no-op) reads the value as stored: a bare column would go through
                # the converters Django registers for its declared type (bool, date, datetime).
                plain = ", ".join(f"+{connection.ops.quote_name(c)}" for c in columns)
                cursor.execute(f"SELECT {plain} FROM {table}")
                data = cursor.fetchall()
            tables.append(TableRows(model=model, columns=columns, data=data, count=count))
    return TablesSnapshot(tables=tuple(tables), using=using)


def tables_restore(snapshot: TablesSnapshot) -> None:
    """Put the snapshot's rows back: each table is emptied first (in the reverse order, so no
    foreign key is left dangling meanwhile) and then refilled, all in one transaction."""
    connection = connections[snapshot.using]
    with transaction.atomic(using=snapshot.using), connection.cursor() as cursor:
        for rows in reversed(snapshot.tables):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(rows.table)}")
        for rows in snapshot.tables:
            table = connection.ops.quote_name(rows.table)
            if connection.vendor == "postgresql":
                cursor.copy_expert(
                    f"COPY {table} ({_quoted(connection, rows.columns)}) FROM STDIN",
                    io.BytesIO(rows.data),
                    size=COPY_CHUNK,
                )
            elif rows.data:
                marks = ", ".join(["%s"] * len(rows.columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({_quoted(connection, rows.columns)}) VALUES ({marks})", rows.data
                )
        for statement in connection.ops.sequence_reset_sql(no_style(), [rows.model for rows in snapshot.tables]):
            cursor.execute(statement)
