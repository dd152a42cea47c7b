"""``manage.py search_eval``: hit@1, hit@10 and MRR@10 per style and overall, per ranking, over
query files (``--queries``) or the dev set restricted with ``--style``; ``--json`` for scripts."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime
from catalog.search.service import search_anime

pytestmark = pytest.mark.slow

DEV_SET = Path(__file__).resolve().parents[1] / "eval" / "queries.jsonl"
LESS_POPULAR = DEV_SET.with_name("queries_less_popular.jsonl")
METRICS = {"hit@1", "hit@10", "mrr@10", "queries"}


def search_eval(*args: str) -> str:
    out = StringIO()
    call_command("search_eval", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def queries(search_index: str, tmp_path: Path) -> Path:
    """Four queries whose ranks are known (hybrid ranking, the command's limit of 10): two title
    queries found first; a query whose only relevant anime is the second card; one whose
    relevant anime is not in the top 10."""
    hits = [h.anime.mal_id for h in search_anime("frieren", limit=10, mode="hybrid").hits]
    assert hits[0] == 52991 and 1535 not in hits
    rows = [
        {"query": "frieren", "relevant_mal_ids": [52991], "style": "title"},
        {"query": "  death note ", "relevant_mal_ids": [1535, 99999999], "style": "title"},
        {"query": "frieren", "relevant_mal_ids": [hits[1]], "style": "plot"},
        {"query": "frieren", "relevant_mal_ids": [1535], "style": "plot"},
    ]
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    return path


def test_it_prints_hit_rates_and_mrr_per_style_and_overall(queries: Path) -> None:
    lines = search_eval("--queries", str(queries), "--mode", "hybrid").splitlines()
    assert lines[0].startswith(f"4 queries from {queries} (")
    assert lines[1].split() == ["style", "n", "hybrid", "hit@1/10", "MRR"]
    # title: ranks 1, 1; plot: rank 2 (1/2), not found (0); all: (1 + 1 + 1/2 + 0) / 4.
    # Then popular answers (>= 100,000 members) against the rest: Frieren and Death Note are
    # popular; the third query's answer is whatever the second card was.
    answers = [json.loads(line)["relevant_mal_ids"][0] for line in queries.read_text().splitlines() if line]
    popular = set(Anime.objects.filter(mal_id__in=answers, members__gte=100_000).values_list("mal_id", flat=True))
    assert {52991, 1535} <= popular
    slices = [
        ["popular", "4", "0.500", "0.750", "0.625"]
        if answers[2] in popular
        else ["popular", "3", "0.667", "0.667", "0.667"],
        *([] if answers[2] in popular else [["rest", "1", "0.000", "1.000", "0.500"]]),
    ]
    assert [line.split() for line in lines[2:]] == [
        ["plot", "2", "0.000", "0.500", "0.250"],
        ["title", "2", "1.000", "1.000", "1.000"],
        ["all", "4", "0.500", "0.750", "0.625"],
        *slices,
    ]


def test_it_prints_one_json_object_per_ranking(queries: Path) -> None:
    results = json.loads(search_eval("--queries", str(queries), "--json"))
    assert set(results) == {"dense", "sparse", "hybrid"}
    for mode in results.values():
        assert set(mode) == {"all", "styles", "files", "slices"}
        assert mode["files"] == {"queries.jsonl": mode["all"]}
        assert set(mode["styles"]) == {"plot", "title"}
        assert all(set(metrics) == METRICS for metrics in [mode["all"], *mode["styles"].values()])
        assert mode["all"]["queries"] == 4
    assert results["hybrid"]["all"] == {"hit@1": 0.5, "hit@10": 0.75, "mrr@10": 0.625, "queries": 4}
    assert results["hybrid"]["styles"] == {
        "plot": {"hit@1": 0.0, "hit@10": 0.5, "mrr@10": 0.25, "queries": 2},
        "title": {"hit@1": 1.0, "hit@10": 1.0, "mrr@10": 1.0, "queries": 2},
    }
    assert sum(m["queries"] for m in results["hybrid"]["slices"].values()) == 4
    only_titles = json.loads(search_eval("--queries", str(queries), "--style", "title", "--mode", "hybrid", "--json"))
    titles = results["hybrid"]["styles"]["title"]
    assert only_titles == {
        "hybrid": {
            "all": titles,
            "styles": {"title": titles},
            "files": {"queries.jsonl": titles},
            "slices": {"popular": titles},
        }
    }


def test_it_restricts_the_dev_set_to_a_style(search_index: str) -> None:
    premise = sum(
        json.loads(line)["style"] == "premise"
        for path in (DEV_SET, LESS_POPULAR)
        for line in path.read_text().splitlines()
        if line.strip()
    )
    assert premise == 35 + 38
    results = json.loads(search_eval("--style", "premise", "--mode", "sparse", "--json"))
    assert list(results) == ["sparse"]
    assert list(results["sparse"]["styles"]) == ["premise"]
    assert results["sparse"]["all"]["queries"] == premise
    assert 0 < results["sparse"]["all"]["hit@1"] <= results["sparse"]["all"]["hit@10"] <= 1


def test_it_names_what_is_wrong_with_its_arguments(search_index: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(CommandError, match=rf"^{missing} is not a file$"):
        search_eval("--queries", str(missing))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "frieren", "relevant_mal_ids": [52991]}\n{"query": "", "relevant_mal_ids": [1]}\n')
    with pytest.raises(CommandError, match=rf"^{bad}:2: expected \{{query, relevant_mal_ids, style\}} \(empty query"):
        search_eval("--queries", str(bad))
    with pytest.raises(CommandError, match=r"^no query of style cooking$"):
        search_eval("--style", "cooking")
    with pytest.raises(CommandError, match=r"^Error: argument --mode: invalid choice: 'fuzzy'"):
        search_eval("--mode", "fuzzy")


@pytest.mark.parametrize("clients", ["0", "-3"])
def test_search_bench_refuses_fewer_than_one_client(clients: str):
    with pytest.raises(CommandError, match="--clients must be at least 1"):
        call_command("search_bench", "--skip-index", "--clients", clients)
