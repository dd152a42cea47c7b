"""``manage.py build_index``: a new generation when none is live, when asked (``--rebuild``) or when
the indexed format changed; otherwise an update of the changed anime only; progress as a line
per tenth without a terminal; errors as a ``CommandError`` that says what is wrong. Every test has
an index folder of its own (empty, or a copy of the session's index)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime, IndexBuild
from catalog.search import embeddings
from catalog.search.engine import engine, engine_reset
from catalog.search.index import index_build_claim, index_count
from catalog.search.service import search_anime
from jobs.owners import owner_token

pytestmark = pytest.mark.slow

CATALOGUE = 21842  # the whole catalogue of ../shared/data, as imported
# Batches of 256 anime (catalog.search.index.BATCH): a line each time another tenth is done.
PROGRESS = [
    "Indexing: 2,304 / 21,842 anime (10%)",
    "Indexing: 4,608 / 21,842 anime (20%)",
    "Indexing: 6,656 / 21,842 anime (30%)",
    "Indexing: 8,960 / 21,842 anime (40%)",
    "Indexing: 11,008 / 21,842 anime (50%)",
    "Indexing: 13,312 / 21,842 anime (60%)",
    "Indexing: 15,360 / 21,842 anime (70%)",
    "Indexing: 17,664 / 21,842 anime (80%)",
    "Indexing: 19,712 / 21,842 anime (90%)",
    "Indexing: 21,842 / 21,842 anime (100%)",
]
SUMMARY = re.compile(
    r"indexed (?P<indexed>[\d,]+), unchanged (?P<unchanged>[\d,]+), removed (?P<removed>[\d,]+) "
    r"in [\d.]+ s \([\d,.]+ docs/s; embedding [\d.]+ s\)"
    r"(?:; live generation (?P<generation>\S+); caught up (?P<caught_up>[\d,]+) changed meanwhile)?"
)


def build_index(*args: str) -> list[str]:
    out = StringIO()
    call_command("build_index", *args, stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()


def summary(line: str) -> dict[str, str | None]:
    match = SUMMARY.fullmatch(line)
    assert match, line
    return match.groupdict()


@pytest.fixture
def empty_index(embedding_cache, settings, tmp_path: Path) -> Iterator[str]:
    """No index built yet (an empty engine folder of the test's own); every embedding cached."""
    from catalog.search.index import index_base

    engine_reset()
    settings.QDRANT_URL = ""
    settings.QDRANT_PATH = tmp_path / "search-index"
    try:
        yield index_base()
    finally:
        engine_reset()


@pytest.fixture
def no_embedding(monkeypatch) -> None:
    """Every text must come from the embedding cache."""
    embedder = embeddings.get_embedder()
    monkeypatch.setattr(embedder, "embed_documents", lambda texts: pytest.fail(f"embedded {len(texts)} texts"))


def test_it_builds_a_first_generation_when_none_is_live(empty_index: str, no_embedding) -> None:
    assert Anime.objects.count() == CATALOGUE
    assert engine().live(empty_index) is None
    lines = build_index()
    assert lines[0] == f"Building a new generation of {empty_index} (edge engine): 21,842 anime"
    assert lines[1:-1] == PROGRESS
    figures = summary(lines[-1])
    live = engine().live(empty_index).name
    assert figures == {"indexed": "21,842", "unchanged": "0", "removed": "0", "generation": live, "caught_up": "0"}
    assert index_count() == CATALOGUE
    build = IndexBuild.objects.get(index=empty_index)
    assert (build.status, build.triggered_by, build.owner, build.generation) == (
        IndexBuild.Status.SUCCEEDED,
        "command",
        owner_token(),
        live,
    )
    assert (build.done, build.total) == (CATALOGUE, CATALOGUE)


def test_it_updates_only_the_anime_that_changed(own_search_index: str) -> None:
    before = engine().live(own_search_index).name
    nothing = build_index()
    assert nothing[0] == f"Updating {own_search_index} (edge engine): 21,842 anime"
    assert nothing[1:-1] == PROGRESS
    assert summary(nothing[-1]) == {
        "indexed": "0",
        "unchanged": "21,842",
        "removed": "0",
        "generation": None,
        "caught_up": None,
    }
    assert engine().live(own_search_index).name == before  # nothing to write: no new generation

    Anime.objects.filter(mal_id=1535).update(
        synopsis="A lighthouse keeper teaches octopuses to play chess on a stormy island."
    )
    gone = Anime.objects.get(mal_id=5114)
    gone.delete()
    changed = build_index()
    assert changed[0] == f"Updating {own_search_index} (edge engine): 21,841 anime"
    assert summary(changed[-1]) == {
        "indexed": "1",
        "unchanged": "21,840",
        "removed": "1",
        "generation": None,
        "caught_up": None,
    }
    assert not IndexBuild.objects.filter(index=own_search_index).exists()  # an update is not a build
    assert engine().live(own_search_index).name != before
    assert index_count() == CATALOGUE - 1
    assert search_anime("octopus chess lighthouse", limit=3).hits[0].anime.mal_id == 1535
    with engine().reading(own_search_index) as live:
        assert live.retrieve([5114]) == []


def test_it_builds_a_new_generation_on_request(own_search_index: str, no_embedding) -> None:
    before = engine().live(own_search_index).name
    lines = build_index("--rebuild")
    assert lines[0] == f"Building a new generation of {own_search_index} (edge engine): 21,842 anime"
    assert lines[1:-1] == PROGRESS
    figures = summary(lines[-1])
    after = engine().live(own_search_index).name
    assert after != before
    assert figures == {"indexed": "21,842", "unchanged": "0", "removed": "0", "generation": after, "caught_up": "0"}
    assert IndexBuild.objects.get(index=own_search_index).status == IndexBuild.Status.SUCCEEDED


def test_it_builds_a_new_generation_when_the_indexed_format_changed(
    own_search_index: str, no_embedding, monkeypatch
) -> None:
    before = engine().live(own_search_index)
    monkeypatch.setattr("catalog.search.index.INDEX_FORMAT", "bm25-crc32-next")
    lines = build_index()
    assert lines[0].startswith("Building a new generation of ")
    after = engine().live(own_search_index)
    assert summary(lines[-1])["generation"] == after.name
    assert after.format != before.format


def test_it_names_a_bad_option() -> None:
    with pytest.raises(CommandError, match=r"^Error: unrecognized arguments: --limit 5$"):
        call_command("build_index", "--limit", "5")
    with pytest.raises(CommandError, match=r"^Error: argument --rebuild: ignored explicit argument 'yes'$"):
        call_command("build_index", "--rebuild=yes")


def test_it_refuses_a_rebuild_while_another_build_runs(own_search_index: str) -> None:
    running = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=running.pk).update(done=running.total // 2)
    before = engine().live(own_search_index).name
    with pytest.raises(
        CommandError, match=rf"^The search index is already being built \(build {running.pk}, 50% done\)\.$"
    ):
        build_index("--rebuild")
    assert engine().live(own_search_index).name == before


def test_it_says_when_the_engine_cannot_be_reached(db, qdrant_down: str) -> None:
    with pytest.raises(CommandError, match=r"^Qdrant could not list aliases: \[Errno 111\] Connection refused$"):
        build_index()


def test_it_waits_for_the_build_in_progress_when_asked(own_search_index: str, monkeypatch) -> None:
    running = index_build_claim(triggered_by="test")  # owned by this process: alive
    IndexBuild.objects.filter(pk=running.pk).update(done=running.total // 4)
    polls: list[float] = []

    def the_build_ends(seconds: float) -> None:
        polls.append(seconds)
        IndexBuild.objects.filter(pk=running.pk).update(status=IndexBuild.Status.SUCCEEDED)

    monkeypatch.setattr("catalog.management.commands.build_index.time", SimpleNamespace(sleep=the_build_ends))
    lines = build_index("--wait")
    assert lines[0] == f"Waiting for build {running.pk} of the index (25% done) …"
    assert lines[1] == f"Updating {own_search_index} (edge engine): 21,842 anime"
    assert polls == [2.0]
