"""The engine boundary's contract, run unchanged against both engines: Qdrant Edge (the embedded
default) and qdrant-client talking to a server (its local mode stands in: the same client code)."""

from __future__ import annotations

import math
import multiprocessing
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from catalog.search.engine import (
    EngineUnavailable,
    Filter,
    Fusion,
    HasId,
    IndexMissing,
    Match,
    MatchAny,
    Point,
    Range,
    Schema,
    SearchEngine,
    Sparse,
    VectorQuery,
)
from catalog.search.engine.edge import EdgeEngine
from catalog.search.engine.server import ServerEngine
from catalog.search.engine.types import generation_parts

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant:UserWarning")

BASE = "contract__test__4"
FORMAT = "f1"
SCHEMA = Schema(
    dense={"dense": 4},
    sparse=("keywords",),
    payload_indexes={"genres": "keyword", "year": "integer", "score": "float", "franchise_key": "keyword"},
)
KEYWORD = 7  # the one sparse term the test documents share


def unit(angle_degrees: float) -> list[float]:
    """A unit vector in the first plane: cosine similarity to (1, 0, 0, 0) falls with the angle."""
    radians = math.radians(angle_degrees)
    return [math.cos(radians), math.sin(radians), 0.0, 0.0]


def points() -> list[Point]:
    """Six anime: the dense ranking for (1, 0, 0, 0) is 1..6, the keyword ranking 6..1."""
    out = []
    for i in range(1, 7):
        out.append(
            Point(
                id=i,
                vectors={"dense": unit(10 * i), "keywords": Sparse(indices=[KEYWORD], values=[float(i)])},
                payload={
                    "genres": ["Action", "Drama"] if i % 2 else ["Comedy"],
                    "year": 2000 + i,
                    "score": 6.0 + i / 2,
                    "franchise_key": f"franchise-{(i + 1) // 2}",
                    "doc_hash": f"hash-{i}",
                },
            )
        )
    return out


DENSE_QUERY = VectorQuery("dense", [1.0, 0.0, 0.0, 0.0])
SPARSE_QUERY = VectorQuery("keywords", Sparse(indices=[KEYWORD], values=[1.0]))


@pytest.fixture(params=["edge", "server"])
def search_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchEngine]:
    if request.param == "edge":
        engine: SearchEngine = EdgeEngine(tmp_path / "edge")
    else:
        engine = ServerEngine(QdrantClient(location=":memory:"))
    yield engine
    engine.close()


def build(engine: SearchEngine, items: list[Point] | None = None) -> str:
    with engine.building(BASE, schema=SCHEMA, format=FORMAT) as collection:
        collection.upsert(points() if items is None else items)
        return collection.generation


def rrf(ranks: dict[str, int], weights: dict[str, float], k: int) -> float:
    return sum(1 / ((rank + 1) / weights[name] + k - 1) for name, rank in ranks.items())


# ---------------------------------------------------------------------------- lifecycle


def test_it_has_no_live_generation_before_the_first_build(search_engine: SearchEngine) -> None:
    assert search_engine.live(BASE) is None
    with pytest.raises(IndexMissing), search_engine.reading(BASE):
        pass
    with pytest.raises(IndexMissing), search_engine.writing(BASE):
        pass


def test_it_publishes_a_build_only_when_it_is_complete(search_engine: SearchEngine) -> None:
    with search_engine.building(BASE, schema=SCHEMA, format=FORMAT) as collection:
        collection.upsert(points()[:3])
        assert search_engine.live(BASE) is None  # half-built: nobody reads it
        collection.upsert(points()[3:])
        generation = collection.generation
    live = search_engine.live(BASE)
    assert live is not None and live.name == generation
    assert live.format == FORMAT and generation_parts(generation)[0] == BASE
    with search_engine.reading(BASE) as collection:
        assert collection.count() == 6
        assert collection.ids() == {1, 2, 3, 4, 5, 6}


def test_it_discards_a_build_that_fails(search_engine: SearchEngine) -> None:
    first = build(search_engine)
    with pytest.raises(RuntimeError), search_engine.building(BASE, schema=SCHEMA, format=FORMAT) as collection:
        collection.upsert(points()[:2])
        raise RuntimeError("the embedder broke")
    assert search_engine.live(BASE).name == first
    assert search_engine.generations(BASE) == [first]


def test_it_indexes_every_filtered_payload_field(search_engine: SearchEngine, monkeypatch) -> None:
    if isinstance(search_engine, ServerEngine):
        # The local stand-in keeps no payload indexes (a server does): check what is asked of it.
        asked: dict[str, object] = {}
        original = search_engine.client.create_payload_index

        def create_payload_index(name: str, field_name: str, field_schema: object, **options: object) -> object:
            asked[field_name] = field_schema
            return original(name, field_name=field_name, field_schema=field_schema, **options)

        monkeypatch.setattr(search_engine.client, "create_payload_index", create_payload_index)
        build(search_engine)
        assert {name: str(kind.value) for name, kind in asked.items()} == SCHEMA.payload_indexes
        return
    build(search_engine)
    with search_engine.reading(BASE) as collection:
        assert collection.payload_indexes() == SCHEMA.payload_indexes


def test_it_keeps_the_live_and_the_previous_generation_only(search_engine: SearchEngine) -> None:
    names = [build(search_engine) for _ in range(4)]
    assert search_engine.live(BASE).name == names[-1]
    assert search_engine.generations(BASE) == names[-2:]


# ---------------------------------------------------------------------------- reading


def test_it_retrieves_payload_and_vectors(search_engine: SearchEngine) -> None:
    build(search_engine)
    with search_engine.reading(BASE) as collection:
        (record,) = collection.retrieve([3], payload=["doc_hash", "year"], vectors=["dense"])
        assert record.id == 3
        assert record.payload == {"doc_hash": "hash-3", "year": 2003}
        assert record.vectors["dense"] == pytest.approx(unit(30), abs=1e-6)
        assert collection.retrieve([99]) == []
        assert [r.id for r in collection.retrieve([2, 5])] in ([2, 5], [5, 2])


def test_it_ranks_by_one_vector(search_engine: SearchEngine) -> None:
    build(search_engine)
    with search_engine.reading(BASE) as collection:
        dense = collection.query([DENSE_QUERY], limit=3, payload=["year"])
        assert [h.id for h in dense] == [1, 2, 3]
        assert dense[0].score == pytest.approx(math.cos(math.radians(10)), abs=1e-5)
        assert dense[0].payload == {"year": 2001}
        assert [h.id for h in collection.query([SPARSE_QUERY], limit=3)] == [6, 5, 4]


def test_it_gives_one_vectors_ranking_as_arrays_like_the_query(search_engine: SearchEngine) -> None:
    twins = [*points(), Point(id=9, vectors={"dense": unit(20)}, payload={"genres": ["Comedy"]})]  # ties with 2
    build(search_engine, twins)
    drama = Filter(must_not=(HasId(frozenset({1})), Match("genres", "Comedy")))
    with search_engine.reading(BASE) as collection:
        for limit, flt in ((3, None), (10, None), (10, drama)):
            nearest = collection.nearest(DENSE_QUERY, limit=limit, filter=flt)
            hits = collection.query([DENSE_QUERY], limit=limit, filter=flt)
            assert nearest.ids.tolist() == [h.id for h in hits]
            assert nearest.scores.tolist() == pytest.approx([h.score for h in hits], abs=1e-6)
        assert collection.nearest(DENSE_QUERY, limit=3).ids.tolist() == [1, 2, 9]  # 2 and 9 tie: lower id first
        assert collection.nearest(DENSE_QUERY, limit=10, filter=drama).ids.tolist() == [3, 5]
        exact = collection.nearest(DENSE_QUERY, limit=10, filter=drama, exact=True)
        assert exact.ids.tolist() == [3, 5]
        assert exact.scores.tolist() == pytest.approx(
            [math.cos(math.radians(30)), math.cos(math.radians(50))], abs=1e-5
        )


@pytest.mark.parametrize("weights", [(1.0, 1.0), (3.0, 1.0)])
def test_it_fuses_two_rankings_with_the_engines_weighted_rrf(search_engine: SearchEngine, weights) -> None:
    build(search_engine)
    fusion = Fusion(k=2, weights=weights)
    with search_engine.reading(BASE) as collection:
        hits = collection.query([DENSE_QUERY, SPARSE_QUERY], limit=6, candidates=6, fusion=fusion)
    expected = {
        i: rrf({"dense": i - 1, "sparse": 6 - i}, {"dense": weights[0], "sparse": weights[1]}, fusion.k)
        for i in range(1, 7)
    }
    assert {h.id: h.score for h in hits} == pytest.approx(expected, rel=1e-5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if weights == (1.0, 1.0):
        assert [h.id for h in hits] == [1, 6, 2, 5, 3, 4]  # 1 and 6 tie (1st and 6th), and so on: lower id first
    if weights == (3.0, 1.0):
        assert hits[0].id == 1  # the dense ranking leads


def test_it_breaks_ties_by_id_even_at_the_limit(search_engine: SearchEngine) -> None:
    build(search_engine)
    fusion = Fusion(k=2, weights=(1.0, 1.0))
    with search_engine.reading(BASE) as collection:
        for _ in range(5):  # the same answer every time, whatever order the engine found them in
            first = collection.query([SPARSE_QUERY, DENSE_QUERY], limit=1, candidates=6, fusion=fusion)
            assert [h.id for h in first] == [1]  # 1 and 6 tie for first
            assert [
                h.id for h in collection.query([DENSE_QUERY, SPARSE_QUERY], limit=3, candidates=6, fusion=fusion)
            ] == [1, 6, 2]


def test_it_filters_inside_each_ranking_so_the_top_k_stays_full(search_engine: SearchEngine) -> None:
    build(search_engine)
    comedy = Filter(must=(Match("genres", "Comedy"),))
    with search_engine.reading(BASE) as collection:
        hits = collection.query(
            [DENSE_QUERY, SPARSE_QUERY], limit=3, candidates=2, fusion=Fusion(k=2, weights=(1.0, 1.0)), filter=comedy
        )
    # Only 2, 4 and 6 are comedies; each ranking keeps its 2 best comedies, not its 2 best overall.
    assert {h.id for h in hits} == {2, 4, 6}


def test_a_ranking_within_a_subset_keeps_its_own_filter_beside_the_querys(search_engine: SearchEngine) -> None:
    build(search_engine)
    comedy = Filter(must=(Match("genres", "Comedy"),))
    before_2005 = Filter(must=(Range("year", lte=2004),))
    fusion = Fusion(k=2, weights=(1.0, 1.0))
    with search_engine.reading(BASE) as collection:
        # Alone, a ranking inside the comedies ranks only them (2, 4, 6 by the dense order) ...
        assert [h.id for h in collection.query([VectorQuery("dense", DENSE_QUERY.vector, comedy)], limit=6)] == [
            2,
            4,
            6,
        ]
        # (as arrays too) ...
        assert collection.nearest(VectorQuery("dense", DENSE_QUERY.vector, comedy), limit=6).ids.tolist() == [2, 4, 6]
        # ... and with the query's own filter, what both allow.
        assert [
            h.id
            for h in collection.query([VectorQuery("dense", DENSE_QUERY.vector, comedy)], limit=6, filter=before_2005)
        ] == [2, 4]
        # Fused, the whole ranking (its 2 best: 1, 2) and the comedies' (2, 4) each keep their
        # candidates: 2 is in both, 1 and 4 in one each.
        hits = collection.query(
            [DENSE_QUERY, VectorQuery("dense", DENSE_QUERY.vector, comedy)], limit=6, candidates=2, fusion=fusion
        )
    assert [h.id for h in hits] == [2, 1, 4]
    assert hits[0].score == pytest.approx(rrf({"whole": 1, "comedy": 0}, {"whole": 1.0, "comedy": 1.0}, fusion.k))


@pytest.mark.parametrize(
    ("condition", "negate", "expected"),
    [
        (Match("franchise_key", "franchise-2"), False, [3, 4]),
        (MatchAny("genres", ("Drama",)), True, [2, 4, 6]),
        (Range("year", gte=2002, lte=2004), False, [2, 3, 4]),
        (Range("score", gte=8.0), False, [4, 5, 6]),
        (HasId(frozenset({1, 5})), True, [2, 3, 4, 6]),
    ],
)
def test_it_filters_on_payload_and_ids(search_engine: SearchEngine, condition, negate: bool, expected) -> None:
    build(search_engine)
    flt = Filter(must_not=(condition,)) if negate else Filter(must=(condition,))
    with search_engine.reading(BASE) as collection:
        assert [h.id for h in collection.query([DENSE_QUERY], limit=10, filter=flt)] == expected


# ---------------------------------------------------------------------------- writing


def test_it_writes_to_the_live_generation_all_at_once(search_engine: SearchEngine) -> None:
    build(search_engine)
    changed = Point(id=7, vectors={"dense": unit(0), "keywords": Sparse([KEYWORD], [9.0])}, payload={"year": 2030})
    with search_engine.writing(BASE) as writer:
        writer.upsert([changed])
        writer.delete([1])
        assert {r.id for r in writer.retrieve([1, 7])} == {7}
    with search_engine.reading(BASE) as collection:
        assert collection.ids() == {2, 3, 4, 5, 6, 7}
        assert collection.query([DENSE_QUERY], limit=1)[0].id == 7


def test_it_keeps_the_previous_state_when_a_write_fails_on_edge(tmp_path: Path) -> None:
    # A Qdrant server applies each call as it comes; the embedded engine publishes a write's
    # changes together, so a failure half-way changes nothing searches see.
    engine = EdgeEngine(tmp_path / "edge")
    generation = build(engine)
    with pytest.raises(RuntimeError), engine.writing(BASE) as writer:
        writer.delete([1, 2])
        raise RuntimeError("failed half-way")
    assert engine.live(BASE).name == generation
    with engine.reading(BASE) as collection:
        assert collection.count() == 6
    assert engine.generations(BASE) == [generation]  # the unfinished copy is gone
    engine.close()


def test_it_publishes_nothing_when_a_write_changes_nothing_on_edge(tmp_path: Path) -> None:
    engine = EdgeEngine(tmp_path / "edge")
    generation = build(engine)
    with engine.writing(BASE) as writer:
        writer.retrieve([1])
    assert engine.live(BASE).name == generation and engine.generations(BASE) == [generation]
    engine.close()


# ---------------------------------------------------------------------------- edge: processes and damage


def _reader_process(root: str, incoming: multiprocessing.Queue, outgoing: multiprocessing.Queue) -> None:
    """Another process: read the live generation, wait for the parent's write, read again."""
    engine = EdgeEngine(Path(root))
    with engine.reading(BASE) as collection:
        outgoing.put(sorted(collection.ids()))
    incoming.get(timeout=60)  # the parent wrote meanwhile
    with engine.reading(BASE) as collection:
        outgoing.put(sorted(collection.ids()))
    engine.close()


def test_it_lets_another_process_read_while_this_one_writes(tmp_path: Path) -> None:
    root = tmp_path / "edge"
    engine = EdgeEngine(root)
    build(engine)
    context = multiprocessing.get_context("spawn")
    to_child, from_child = context.Queue(), context.Queue()
    child = context.Process(target=_reader_process, args=(str(root), to_child, from_child))
    child.start()
    try:
        assert from_child.get(timeout=60) == [1, 2, 3, 4, 5, 6]
        with engine.writing(BASE) as writer:
            writer.delete([6])
        to_child.put("written")
        assert from_child.get(timeout=60) == [1, 2, 3, 4, 5]
    finally:
        child.join(timeout=60)
        engine.close()
    assert child.exitcode == 0


def test_it_reports_a_damaged_shard_as_unavailable(tmp_path: Path) -> None:
    engine = EdgeEngine(tmp_path / "edge")
    generation = build(engine)
    engine.close()
    for state in (tmp_path / "edge" / BASE / generation / "segments").glob("*/segment.json"):
        state.write_text("not json")
    damaged = EdgeEngine(tmp_path / "edge")
    with pytest.raises(EngineUnavailable, match="could not open the search index"), damaged.reading(BASE):
        pass
    shutil.rmtree(tmp_path / "edge" / BASE / generation)
    with pytest.raises(EngineUnavailable), EdgeEngine(tmp_path / "edge").reading(BASE):
        pass


def test_it_reports_a_dead_server_as_unavailable() -> None:
    engine = ServerEngine(QdrantClient(url="http://127.0.0.1:9", timeout=1))
    with pytest.raises(EngineUnavailable):
        engine.live(BASE)
