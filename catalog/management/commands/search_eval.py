from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.search.forms import MODES
from catalog.search.service import search_anime


def evaluate(queries: list[dict[str, Any]], *, mode: str, k: int = 10) -> dict[str, float]:
    """hit@1, hit@10 and MRR@10 (a hit = any of ``relevant_mal_ids``), with the product's
    defaults (franchise folding on)."""
    hit1 = hit10 = rr = 0.0
    for row in queries:
        relevant = {int(i) for i in row["relevant_mal_ids"]}
        ids = [h.anime.mal_id for h in search_anime(row["query"], limit=k, mode=mode).hits]
        rank = next((i for i, mal_id in enumerate(ids, 1) if mal_id in relevant), None)
        if rank is not None:
            hit1 += rank == 1
            hit10 += rank <= k
            rr += 1.0 / rank
    n = len(queries) or 1
    return {
        "hit@1": round(hit1 / n, 4),
        "hit@10": round(hit10 / n, 4),
        "mrr@10": round(rr / n, 4),
        "queries": len(queries),
    }


class Command(BaseCommand):
    help = "Measure search quality on a JSON-Lines file of {query, relevant_mal_ids}: hit@1, hit@10, MRR@10."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queries", type=Path, required=True)
        parser.add_argument("--mode", choices=[*MODES, "all"], default="hybrid")
        parser.add_argument("--json", action="store_true", help="print one JSON object: mode -> metrics")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["queries"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        queries: list[dict[str, Any]] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not row["query"] or not row["relevant_mal_ids"]:
                    raise ValueError("empty query or relevant_mal_ids")
            except (ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"{path}:{number}: expected {{query, relevant_mal_ids}} ({exc})") from exc
            queries.append(row)
        modes = list(MODES) if options["mode"] == "all" else [options["mode"]]
        results = {mode: evaluate(queries, mode=mode) for mode in modes}
        if options["json"]:
            self.stdout.write(json.dumps(results))
            return
        self.stdout.write(f"{len(queries)} queries from {path}")
        self.stdout.write(f"{'mode':<8} {'hit@1':>7} {'hit@10':>7} {'MRR@10':>7}")
        for mode, m in results.items():
            self.stdout.write(f"{mode:<8} {m['hit@1']:>7.3f} {m['hit@10']:>7.3f} {m['mrr@10']:>7.3f}")
