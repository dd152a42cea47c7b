"""Keeping the search index fresh: writes to the catalogue call ``index_on_commit`` with the MAL
ids they created or changed; once the transaction commits, the ids go to Celery in batches."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from jobs.services import task_dispatch

# Fields whose change alters what the index holds (the embedded text, the keyword text or the
# payload the filters read); fetched_at, provenance or episodes alone do not re-index.
INDEXED_FIELDS = frozenset(
    {
        "title",
        "title_english",
        "title_japanese",
        "title_other",
        "title_synonyms",
        "synopsis",
        "genres",
        "type",
        "year",
        "score",
        "tier",
        "members",
        "franchise_key",
        "studios",
        "episodes",
    }
)
TASK_BATCH = 200


def touches_index(changed_fields: Iterable[str]) -> bool:
    return bool(INDEXED_FIELDS.intersection(changed_fields))


def anime_index_enqueue(mal_ids: Iterable[int]) -> int:
    """The one way to (re-)index anime (writes, the admin, the staff API): ``anime_index_batch``
    tasks for these ids now, at most ``TASK_BATCH`` ids a task (run here when there is no
    broker; recorded for a retry when the broker is down). Returns the number of tasks."""
    ids = sorted({int(i) for i in mal_ids})
    for start in range(0, len(ids), TASK_BATCH):
        task_dispatch("catalog.tasks.anime_index_batch", ids[start : start + TASK_BATCH])
    return (len(ids) + TASK_BATCH - 1) // TASK_BATCH


def index_on_commit(mal_ids: Iterable[int]) -> None:
    """Enqueue these ids for indexing once the current transaction commits (at once when none
    is open). Off when ``settings.SEARCH_AUTO_INDEX`` is false."""
    if not settings.SEARCH_AUTO_INDEX:
        return
    ids = sorted({int(i) for i in mal_ids})
    if ids:
        # robust: a failure to enqueue (or, eagerly, to index) is logged and never breaks the
        # write that committed; `manage.py build_index` catches up.
        transaction.on_commit(lambda: anime_index_enqueue(ids), robust=True)
