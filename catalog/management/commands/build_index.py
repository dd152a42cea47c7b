from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.models import Anime
from catalog.search.engine import EngineUnavailable, engine
from catalog.search.index import (
    POPULAR,
    IndexBuildInProgress,
    IndexStats,
    index_base,
    index_build_running,
    index_needs_rebuild,
    index_update,
)

WAIT_POLL = 2.0  # seconds


class TenthsProgress:
    """Progress as a plain line each time another tenth of the work is done."""

    def __init__(self, total: int, write: Callable[[str], None]) -> None:
        self.total, self.write, self.done, self.shown = max(total, 1), write, 0, 0

    def __call__(self, count: int) -> None:
        self.done += count
        tenth = min(10, self.done * 10 // self.total)
        if tenth > self.shown:
            self.shown = tenth
            self.write(f"Indexing: {self.done:,} / {self.total:,} anime ({tenth * 10}%)")


class ProgressSteps:
    """The progress of each step (popular slice, whole catalogue): a bar on a terminal, else a
    line per tenth (make run's background log)."""

    def __init__(self, command: BaseCommand, base: str, total: int) -> None:
        self.command, self.base, self.total = command, base, total
        self.bar: tqdm | None = None
        self.forward: Callable[[int], None] | None = None

    def next_slice(self, slice: str, total: int, previous: IndexStats | None) -> None:
        write = self.command.stdout.write
        if previous is not None:
            write(
                self.command.style.SUCCESS(
                    f"popular slice live: indexed {previous.indexed:,} in {previous.seconds:.1f} s "
                    f"(embedding {previous.embed_seconds:.1f} s); live generation {previous.generation}"
                )
            )
        what = "the popular slice" if slice == POPULAR else "the whole catalogue"
        write(f"Building a new generation of {self.base} ({engine().kind} engine) with {what}: {total:,} anime")
        self.start(total)

    def start(self, total: int) -> None:
        self.close()
        self.bar = tqdm(total=total, unit="anime", desc="Indexing", file=self.command.stderr._out, disable=None)
        self.forward = self.bar.update if not self.bar.disable else TenthsProgress(total, self.command.stdout.write)

    def __call__(self, count: int) -> None:
        if self.forward is None:
            self.start(self.total)
        assert self.forward is not None
        self.forward(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = self.forward = None


class Command(BaseCommand):
    help = (
        "Bring the search index up to date. With no index yet, with --rebuild, or when the indexed "
        "text or format changed, a new generation is built beside the live one and searches switch "
        "to it at once when it is complete (the site keeps serving meanwhile); with no index yet, the "
        "popular slice (SEARCH_POPULAR_SLICE_MEMBERS) goes live first, then the whole catalogue. "
        "Otherwise the live one is updated in place of changed anime only (embeddings come from the cache)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="build a new generation even if nothing changed")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="when another build of the index runs, wait for it to end, then update (what `make run` uses)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["wait"]:
            self.wait_for_other_build()
        base = index_base()
        total = Anime.objects.count()
        try:
            rebuild = options["rebuild"] or index_needs_rebuild()
        except EngineUnavailable as error:
            raise CommandError(str(error)) from error
        if not rebuild:
            self.stdout.write(f"Updating {base} ({engine().kind} engine): {total:,} anime")
        steps = ProgressSteps(self, base, total)
        try:
            stats = index_update(rebuild=rebuild, progress=steps, on_slice=steps.next_slice)
        except (IndexBuildInProgress, EngineUnavailable) as error:
            raise CommandError(str(error)) from error
        finally:
            steps.close()
        if stats.missing:
            raise CommandError("No search index is live yet: run build_index without arguments first.")
        rate = stats.total / stats.seconds if stats.seconds else 0.0
        line = (
            f"indexed {stats.indexed:,}, unchanged {stats.unchanged:,}, removed {stats.deleted:,} "
            f"in {stats.seconds:.1f} s ({rate:,.1f} docs/s; embedding {stats.embed_seconds:.1f} s)"
        )
        if rebuild:
            line += f"; live generation {stats.generation}; caught up {stats.caught_up:,} changed meanwhile"
            line = f"whole catalogue live: {line}"
        self.stdout.write(self.style.SUCCESS(line))

    def wait_for_other_build(self) -> None:
        shown = -1
        while (build := index_build_running()) is not None:
            if build.percent != shown:
                self.stdout.write(f"Waiting for build {build.pk} of the index ({build.percent}% done) …")
                shown = build.percent
            time.sleep(WAIT_POLL)
