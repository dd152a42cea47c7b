from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict

from catalog.search.forms import MODES, search_request_parse
from catalog.search.service import search_requested


class Command(BaseCommand):
    help = 'Search the catalogue: manage.py search_anime "a boy who goes back in time" [--mode] [filters]'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query")
        parser.add_argument("--mode", choices=MODES, default="hybrid")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--no-fold", action="store_true", help="one line per anime, not per franchise")
        parser.add_argument("--genre", action="append", default=[], help="repeatable; all must match")
        parser.add_argument("--exclude-genre", action="append", default=[])
        for name in ("type", "tier", "year_min", "year_max", "score_min", "score_max"):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name)

    def handle(self, *args: Any, **options: Any) -> None:
        # The same validation as the page and the API: the search form and the browse filters.
        data = QueryDict(mutable=True)
        data.update({"q": options["query"], "mode": options["mode"], "limit": str(options["limit"])})
        data["fold"] = "0" if options["no_fold"] else "1"
        data.setlist("genre", options["genre"])
        data.setlist("exclude_genre", options["exclude_genre"])
        for name in ("type", "tier", "year_min", "year_max", "score_min", "score_max"):
            if options[name] is not None:
                data[name] = options[name]
        parse = search_request_parse(data, with_filterset=False)
        parsed = parse.request
        if parsed is None:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in parse.errors.items()))
        results = search_requested(parsed)
        if results.degraded:
            self.stderr.write(results.notice)
        if not results.hits:
            self.stdout.write("No anime found.")
        for rank, hit in enumerate(results.hits, 1):
            anime = hit.anime
            extra = f"  +{hit.related_count} related" if hit.related_count else ""
            flag = "  [title]" if hit.title_match else ""
            self.stdout.write(
                f"{rank:>2}. {anime.mal_id:>6}  {anime.display_title} ({anime.year or '?'}, {anime.type or '?'}, "
                f"score {anime.score if anime.score is not None else '-'}){flag}{extra}"
            )
            if hit.snippet:
                self.stdout.write(f"            {hit.snippet}")
        self.stdout.write(f"({results.timings['total'] * 1000:.1f} ms)")
