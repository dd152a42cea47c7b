from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.search.forms import MODES
from catalog.search.service import search_anime

# The project's dev set (catalog/search/eval/README.md): its 268 queries, the 40 of ../shared,
# which stay a style of their own ("shared"), and the queries about less popular anime.
EVAL_DIR = Path(settings.BASE_DIR) / "catalog" / "search" / "eval"
DEFAULT_QUERIES = (
    EVAL_DIR / "queries.jsonl",
    Path(settings.BASE_DIR).parent / "shared" / "eval" / "search_queries_dev.jsonl",
    EVAL_DIR / "queries_less_popular.jsonl",
)
SHARED_STYLE = "shared"
# A query is about a popular anime when its answer (first relevant id) has at least this many
# members: the slice the catalogue held before it was whole. Unknown members count as the rest.
POPULAR_MEMBERS = 100_000


def queries_load(paths: list[Path]) -> list[dict[str, Any]]:
    """Rows of ``{query, relevant_mal_ids, style}`` from JSON-Lines files; a row without a style
    takes ``shared``."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row["query"], str) or not row["query"].strip() or not row["relevant_mal_ids"]:
                    raise ValueError("empty query or relevant_mal_ids")
                row["relevant_mal_ids"] = [int(i) for i in row["relevant_mal_ids"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"{path}:{number}: expected {{query, relevant_mal_ids, style}} ({exc})") from exc
            row["style"] = str(row.get("style") or SHARED_STYLE)
            row["file"] = path.name
            rows.append(row)
    return rows


def ranks(queries: list[dict[str, Any]], *, mode: str, k: int = 10) -> list[int | None]:
    """Rank of the first relevant card in the top ``k`` (None: not found), with the product's
    defaults (franchise folding on)."""
    found: list[int | None] = []
    for row in queries:
        relevant = set(row["relevant_mal_ids"])
        ids = [h.anime.mal_id for h in search_anime(row["query"].strip(), limit=k, mode=mode).hits]
        found.append(next((i for i, mal_id in enumerate(ids, 1) if mal_id in relevant), None))
    return found


def metrics(found: list[int | None], *, k: int = 10) -> dict[str, float]:
    n = len(found) or 1
    return {
        "hit@1": round(sum(r == 1 for r in found) / n, 4),
        "hit@10": round(sum(r is not None and r <= k for r in found) / n, 4),
        "mrr@10": round(sum(1.0 / r for r in found if r is not None) / n, 4),
        "queries": len(found),
    }


def popular_answers(queries: list[dict[str, Any]]) -> set[int]:
    """The answers (first relevant ids) with at least ``POPULAR_MEMBERS`` members."""
    from catalog.models import Anime

    first = {row["relevant_mal_ids"][0] for row in queries}
    return set(Anime.objects.filter(mal_id__in=first, members__gte=POPULAR_MEMBERS).values_list("mal_id", flat=True))


def evaluate(queries: list[dict[str, Any]], *, mode: str, k: int = 10) -> dict[str, Any]:
    """Overall, per-style, per-file and popular-vs-rest hit@1, hit@10, MRR@10 for one ranking mode."""
    found = ranks(queries, mode=mode, k=k)
    popular = popular_answers(queries)
    groups: dict[str, dict[str, list[int | None]]] = {
        "styles": defaultdict(list),
        "files": defaultdict(list),
        "slices": defaultdict(list),
    }
    for row, rank in zip(queries, found, strict=True):
        groups["styles"][row["style"]].append(rank)
        groups["files"][row.get("file", "")].append(rank)
        groups["slices"]["popular" if row["relevant_mal_ids"][0] in popular else "rest"].append(rank)
    return {"all": metrics(found, k=k)} | {
        name: {key: metrics(values, k=k) for key, values in sorted(group.items())} for name, group in groups.items()
    }


class Command(BaseCommand):
    help = (
        "Measure search quality on JSON-Lines files of {query, relevant_mal_ids, style}: hit@1, hit@10 "
        "and MRR@10 per style, overall, per file and for popular anime against the rest, for dense, sparse "
        "and hybrid ranking."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queries",
            type=Path,
            action="append",
            help="a query file (repeatable; default: the project's dev set and ../shared's 40 queries)",
        )
        parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
        parser.add_argument("--style", action="append", help="only these styles (repeatable)")
        parser.add_argument("--json", action="store_true", help="print one JSON object: mode -> metrics")

    def handle(self, *args: Any, **options: Any) -> None:
        paths = options["queries"] or [p for p in DEFAULT_QUERIES if p.is_file()]
        queries = queries_load(paths)
        if options["style"]:
            queries = [q for q in queries if q["style"] in options["style"]]
            if not queries:
                raise CommandError(f"no query of style {', '.join(options['style'])}")
        modes = list(MODES) if options["mode"] == "all" else [options["mode"]]
        started = time.perf_counter()
        results = {mode: evaluate(queries, mode=mode) for mode in modes}
        if options["json"]:
            self.stdout.write(json.dumps(results))
            return
        self.stdout.write(
            f"{len(queries)} queries from {', '.join(str(p) for p in paths)} ({time.perf_counter() - started:.0f} s)"
        )
        first = results[modes[0]]
        rows = [("styles", style) for style in first["styles"]] + [("all", "all")]
        if len(first["files"]) > 1:
            rows += [("files", name) for name in first["files"]]
        rows += [("slices", name) for name in first["slices"]]
        width = max(10, *(len(name) for _, name in rows))
        self.stdout.write(f"{'style':<{width}} {'n':>4}  " + "  ".join(f"{m + ' hit@1/10 MRR':<26}" for m in modes))
        for group, name in rows:
            cells = []
            for mode in modes:
                m = results[mode]["all"] if group == "all" else results[mode][group][name]
                cells.append(f"{m['hit@1']:.3f} {m['hit@10']:.3f} {m['mrr@10']:.3f}".ljust(26))
            count = first["all"]["queries"] if group == "all" else first[group][name]["queries"]
            self.stdout.write(f"{name:<{width}} {count:>4}  " + "  ".join(cells))
