from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.models import Anime
from catalog.search.embeddings import get_embedder
from catalog.search.index import anime_index, collection_name
from catalog.search.qdrant import QdrantBusy


class Command(BaseCommand):
    help = (
        "Index the whole catalogue in search (Qdrant). Unchanged anime are skipped and embeddings "
        "come from the cache, so a second run is quick; --rebuild recreates the collection."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="drop and recreate the collection first")

    def handle(self, *args: Any, **options: Any) -> None:
        embedder = get_embedder()
        total = Anime.objects.count()
        self.stdout.write(f"Indexing {total:,} anime into {collection_name(embedder)}")
        with tqdm(total=total, unit="anime", desc="Indexing", file=self.stderr._out, disable=None) as bar:
            try:
                stats = anime_index(rebuild=options["rebuild"], progress=bar.update)
            except QdrantBusy as exc:
                raise CommandError(str(exc)) from exc
        rate = stats.total / stats.seconds if stats.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"indexed {stats.indexed:,}, unchanged {stats.unchanged:,}, removed {stats.deleted:,} "
                f"in {stats.seconds:.1f} s ({rate:,.1f} docs/s; embedding {stats.embed_seconds:.1f} s)"
            )
        )
