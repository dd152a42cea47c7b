"""Blue/green re-indexing on the real catalogue: a full rebuild builds a new generation beside the
live one and switches over at once; searches never pause or see a half-built index, and what
changed during the build is caught up after the switch. Each test works on a copy of the session's
index of its own (``own_search_index``), so whatever it builds or edits goes with it."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import close_old_connections

from catalog.models import Anime, IndexBuild
from catalog.search.engine import engine
from catalog.search.index import anime_index, index_base, index_build_claim, index_count, index_rebuild
from catalog.search.service import search_anime

pytestmark = pytest.mark.slow

QUERY = "a high school student finds a notebook dropped by a god of death that kills anyone whose name is written in it"


def test_it_serves_every_search_during_a_rebuild(own_search_index_committed: str) -> None:
    before = engine().live(own_search_index_committed).name
    stop = threading.Event()
    seen: list[tuple[bool, int, int]] = []  # (degraded, hits, first hit) per search
    errors: list[BaseException] = []

    def search_without_pause() -> None:
        try:
            while not stop.is_set():
                results = search_anime(QUERY, limit=10)
                seen.append((results.degraded, len(results.hits), results.hits[0].anime.mal_id if results.hits else 0))
        except BaseException as error:
            errors.append(error)
        finally:
            close_old_connections()

    searcher = threading.Thread(target=search_without_pause)
    searcher.start()
    try:
        time.sleep(0.5)
        stats = index_rebuild()
        time.sleep(0.5)
    finally:
        stop.set()
        searcher.join(timeout=60)
    assert not searcher.is_alive()
    assert errors == []
    assert len(seen) > 10
    assert all(not degraded for degraded, _, _ in seen)
    assert all(hits == 10 and first == 1535 for _, hits, first in seen)
    after = engine().live(own_search_index_committed).name
    assert after == stats.generation != before
    assert index_count() == Anime.objects.count()
    # Searches answer from the new generation now; the one before it is kept for slow readers.
    with engine().reading(own_search_index_committed) as live:
        assert live.generation == after
    assert engine().generations(own_search_index_committed) == [before, after]


def test_it_catches_up_with_an_edit_made_during_the_rebuild(own_search_index: str) -> None:
    position = list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True)).index(1535)
    written = [0]
    edited: list[str] = []

    def edit_once(count: int) -> None:
        # Once the build has written 1535 into the new generation, the anime changes and the change
        # is indexed into the live (old) generation, as an admin edit would be.
        written[0] += count
        if written[0] > position and not edited:
            Anime.objects.filter(mal_id=1535).update(
                synopsis="A lighthouse keeper teaches octopuses to play chess on a stormy island."
            )
            edited.append(anime_index([1535]).generation)

    stats = index_rebuild(progress=edit_once)
    assert edited and edited[0] != stats.generation
    assert stats.caught_up == 1
    assert search_anime("octopus chess lighthouse", limit=3).hits[0].anime.mal_id == 1535


def test_it_records_a_builds_progress_and_refuses_a_second_one(own_search_index: str) -> None:
    from catalog.search.index import IndexBuildInProgress

    build = index_build_claim(triggered_by="test")
    with pytest.raises(IndexBuildInProgress, match="already being built"):
        index_build_claim(triggered_by="test")
    stats = index_rebuild(build=build)
    build.refresh_from_db()
    assert build.status == IndexBuild.Status.SUCCEEDED
    assert (build.done, build.total, build.percent) == (Anime.objects.count(), Anime.objects.count(), 100)
    assert build.generation == stats.generation == engine().live(index_base()).name
    assert build.stats["indexed"] == Anime.objects.count()
    assert index_build_claim(triggered_by="test").status == IndexBuild.Status.RUNNING  # free again


def test_it_takes_over_a_build_whose_heartbeat_stopped(db) -> None:
    # Only the claims (rows) are involved: no index is built. A dead owner's PID: jobs/tests/test_owners.py.
    from datetime import timedelta

    from django.utils import timezone

    from catalog.search.index import BUILD_STALE_AFTER

    dead = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - BUILD_STALE_AFTER - timedelta(seconds=1))
    fresh = index_build_claim(triggered_by="test")
    dead.refresh_from_db()
    assert dead.status == IndexBuild.Status.FAILED and "stopped sending progress" in dead.error
    assert fresh.status == IndexBuild.Status.RUNNING
