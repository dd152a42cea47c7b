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
from catalog.search.index import generation_slice, index_build_claim, index_count, popular_slice_ids
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
POPULAR_LIVE = re.compile(
    r"popular slice live: indexed (?P<indexed>[\d,]+) in [\d.]+ s \(embedding [\d.]+ s\); "
    r"live generation (?P<generation>\S+)"
)
SUMMARY = re.compile(
    r"(?:whole catalogue live: )?indexed (?P<indexed>[\d,]+), unchanged (?P<unchanged>[\d,]+), removed (?P<removed>[\d,]+) "
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


def test_it_builds_the_popular_slice_first_then_the_whole_catalogue(empty_index: str, no_embedding) -> None:
    """With no index live, the popular slice goes live first (a generation of its own), then the
    whole catalogue as the next generation; each step shows its progress and has its build row."""
    assert Anime.objects.count() == CATALOGUE
    assert engine().live(empty_index) is None
    popular = Anime.objects.filter(members__gte=100_000).count()
    assert 2_000 < popular < 2_600
    lines = build_index()
    assert (
        lines[0]
        == f"Building a new generation of {empty_index} (edge engine) with the popular slice: {popular:,} anime"
    )
    step = lines.index(
        f"Building a new generation of {empty_index} (edge engine) with the whole catalogue: 21,842 anime"
    )
    assert lines[step - 2] == f"Indexing: {popular:,} / {popular:,} anime (100%)"
    first = POPULAR_LIVE.fullmatch(lines[step - 1])
    assert first, lines[step - 1]
    assert first["indexed"] == f"{popular:,}"
    assert lines[step + 1 : -1] == PROGRESS
    figures = summary(lines[-1])
    live = engine().live(empty_index)
    assert figures == {"indexed": "21,842", "unchanged": "0", "removed": "0", "generation": live.name, "caught_up": "0"}
    assert first["generation"] != live.name
    assert generation_slice(live.format) == "whole"
    assert index_count() == CATALOGUE
    slice_build, whole_build = IndexBuild.objects.filter(index=empty_index).order_by("pk")
    assert (slice_build.status, slice_build.generation, slice_build.stats["slice"]) == (
        IndexBuild.Status.SUCCEEDED,
        first["generation"],
        "popular",
    )
    assert (slice_build.done, slice_build.total, slice_build.stats["indexed"]) == (popular, popular, popular)
    assert (whole_build.status, whole_build.triggered_by, whole_build.owner, whole_build.generation) == (
        IndexBuild.Status.SUCCEEDED,
        "command",
        owner_token(),
        live.name,
    )
    assert (whole_build.done, whole_build.total, whole_build.stats["slice"]) == (CATALOGUE, CATALOGUE, "whole")


def test_the_popular_slice_alone_is_live_between_the_two_steps(empty_index: str, no_embedding, monkeypatch) -> None:
    """What searches see after the first step: the popular slice only, marked as such, and the next
    ``build_index`` builds the whole catalogue (a slice never counts as up to date)."""
    from catalog.search import index

    seen: list[tuple[str, int, int]] = []
    real_rebuild = index.index_rebuild

    def rebuild_and_look(**kwargs):
        stats = real_rebuild(**kwargs)
        live = engine().live(empty_index)
        seen.append((generation_slice(live.format), index_count(), index.index_needs_rebuild()))
        return stats

    monkeypatch.setattr(index, "index_rebuild", rebuild_and_look)
    build_index()
    popular = len(popular_slice_ids())
    assert seen == [("popular", popular, True), ("whole", CATALOGUE, False)]


def test_it_builds_the_whole_catalogue_at_once_without_a_popular_slice(
    empty_index: str, no_embedding, settings
) -> None:
    settings.SEARCH_POPULAR_SLICE_MEMBERS = 0
    lines = build_index()
    assert (
        lines[0] == f"Building a new generation of {empty_index} (edge engine) with the whole catalogue: 21,842 anime"
    )
    assert lines[1:-1] == PROGRESS
    live = engine().live(empty_index)
    assert summary(lines[-1])["generation"] == live.name
    assert IndexBuild.objects.filter(index=empty_index).count() == 1


def test_a_small_catalogue_goes_live_in_two_steps(empty_index: str, no_embedding, settings) -> None:
    """The two steps at any threshold (a small slice here): the slice is the anime with at least
    that many members, the rest joins in the second generation."""
    settings.SEARCH_POPULAR_SLICE_MEMBERS = 1_500_000
    expected = list(Anime.objects.filter(members__gte=1_500_000).order_by("mal_id").values_list("mal_id", flat=True))
    assert 0 < len(expected) < 200
    assert popular_slice_ids() == expected
    lines = build_index()
    assert lines[0].endswith(f"with the popular slice: {len(expected):,} anime")
    assert any(POPULAR_LIVE.fullmatch(line) for line in lines)
    assert index_count() == CATALOGUE


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
    assert lines[0] == (
        f"Building a new generation of {own_search_index} (edge engine) with the whole catalogue: 21,842 anime"
    )
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
