"""Recommendations from an imported list: "because you rated Mushishi 9 and Natsume Yuujinchou 8".

The user's taste is one query vector built from the synopsis embeddings already in the index:
the weighted mean of the anime they rated above their own average (weight: how far above, plus
one), minus ``NEGATIVE_WEIGHT`` times the weighted mean of those they rated well below it or
dropped (Qdrant's recommend query with the "average vector" strategy is this vector with equal
weights; a weighted one lets a 10 count more than a 7 and works the same on Qdrant Edge and on a
server). The engine ranks every anime the filters allow and that is not on the list by closeness
to it; the rank adds, standardised, the anime's popularity (log members), its MyAnimeList score
and how well its genres and themes fit the liked ones (lift over the catalogue's rates), then
keeps one card per franchise. Each card names the two rated anime closest to it. The weights were
chosen with ``manage.py recommend_eval`` on one seed and reported on another (README, "Your list").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from django.db.models import F

from catalog.filters import AnimeCriteria
from catalog.franchise import first_per_franchise
from catalog.lists.selectors import Entry
from catalog.models import Anime, ListStatus
from catalog.search.engine import EngineError, VectorQuery, engine
from catalog.search.index import DENSE, index_base
from catalog.search.service import criteria_filter
from catalog.search.titles import catalogue_version

# A score counts in favour from here (and above the user's own mean).
POSITIVE_MIN = 7
# How much the disliked anime pull away, against the liked ones' 1. On the whole catalogue 0 did
# best (recommend_eval, seed 0: hit@10 0.163 against 0.150 at 0.5; README), so dislikes only hide.
NEGATIVE_WEIGHT = 0.0
# The strongest likes that shape the query (a list of 1,000 ratings is not 1,000 tastes).
MAX_POSITIVES = 60
# Nearest anime the popularity prior reorders (then one per franchise).
CANDIDATES = 3000
# Each candidate's rank score: its similarity to the taste plus this much of its log-members, both
# standardised over the candidates (people list popular anime; the nearest synopses alone turn up
# specials and recaps). Chosen with ``recommend_eval`` on seed 0 (whole catalogue: 8 gave hit@10
# 0.190 against 0.153 at 2 and 0.200 at 16, whose nDCG was lower), reported on seed 1 (README).
POPULARITY_WEIGHT = 8.0
# And this much of its MyAnimeList score (the site's question is what is worth watching).
QUALITY_WEIGHT = 1.0
# And this much of how well its genres and themes fit those of the liked anime (their lift over
# the catalogue's base rate, minus the disliked anime's).
TAG_WEIGHT = 2.0


@dataclass(frozen=True)
class Taste:
    positives: dict[int, float]  # mal_id -> weight
    negatives: dict[int, float]

    @property
    def empty(self) -> bool:
        return not self.positives


def taste_of(entries: Mapping[int, Entry]) -> Taste:
    """Which entries pull towards and which away, with their weights."""
    scored = {m: e.score for m, e in entries.items() if e.score}
    mean = float(np.mean(list(scored.values()))) if scored else 0.0
    positives: dict[int, float] = {}
    negatives: dict[int, float] = {}
    for mal_id, entry in entries.items():
        if entry.score:
            if entry.score >= max(POSITIVE_MIN, mean):
                positives[mal_id] = entry.score - mean + 1.0
            elif entry.score <= mean - 2 or entry.status == ListStatus.DROPPED:
                negatives[mal_id] = max(1.0, mean - entry.score)
        elif entry.status == ListStatus.DROPPED:
            negatives[mal_id] = 1.0
    if not positives:  # nothing scored: what they finished is what they liked
        positives = {m: 1.0 for m, e in entries.items() if e.status == ListStatus.COMPLETED and not e.score}
    strongest = sorted(positives.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_POSITIVES]
    return Taste(positives=dict(strongest), negatives=negatives)


@dataclass
class Recommendation:
    anime: Anime
    score: float
    because: list[tuple[int, str, int]] = field(default_factory=list)  # (mal_id, title, the user's score)

    @property
    def reason(self) -> str:
        if not self.because:
            return "Popular, and not on your list"
        parts = [f"{title} {score}" if score else title for _, title, score in self.because]
        verb = "rated" if all(score for *_, score in self.because) else "liked"
        listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        return f"Because you {verb} {listed}"


@dataclass
class RecommendResults:
    items: list[Recommendation]
    degraded: bool = False
    notice: str = ""
    positives: int = 0
    negatives: int = 0


def _z(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _mean(vectors: dict[int, np.ndarray], weights: dict[int, float]) -> np.ndarray | None:
    present = [m for m in weights if m in vectors]
    if not present:
        return None
    w = np.array([weights[m] for m in present])
    return (w[:, None] * np.stack([vectors[m] for m in present])).sum(axis=0) / w.sum()


@dataclass(frozen=True)
class Weights:
    """How candidates are ranked (see the module; chosen with ``recommend_eval``)."""

    negative: float = NEGATIVE_WEIGHT
    popularity: float = POPULARITY_WEIGHT
    quality: float = QUALITY_WEIGHT
    tags: float = TAG_WEIGHT


def tag_affinity(
    taste: Taste, tags: Mapping[int, Sequence[str]], base_rate: Mapping[str, float], negative: float
) -> dict[str, float]:
    """How much more often than in the catalogue a genre or theme carries the liked anime's weight
    (minus ``negative`` times the same for the disliked ones)."""

    def shares(weights: Mapping[int, float]) -> dict[str, float]:
        total = sum(w for m, w in weights.items() if m in tags) or 1.0
        out: dict[str, float] = {}
        for mal_id, weight in weights.items():
            for tag in tags.get(mal_id, ()):
                out[tag] = out.get(tag, 0.0) + weight / total
        return out

    liked, disliked = shares(taste.positives), shares(taste.negatives)
    return {
        tag: liked.get(tag, 0.0) - base_rate.get(tag, 0.0) - negative * disliked.get(tag, 0.0)
        for tag in set(liked) | set(disliked)
    }


def ranked_ids(
    entries: Mapping[int, Entry],
    *,
    criteria: AnimeCriteria | None = None,
    limit: int = 10,
    weights: Weights = Weights(),
) -> tuple[list[tuple[int, float, list[int]]], Taste]:
    """(mal_id, score, the liked anime closest to it) of the top ``limit`` franchises, and the
    taste used. Raises ``EngineError`` when the index cannot answer."""
    taste = taste_of(entries)
    if taste.empty:
        return [], taste
    wanted = [*taste.positives, *taste.negatives]
    query_filter = criteria_filter(criteria, exclude_ids=frozenset(entries))
    with engine().reading(index_base()) as collection:
        records = collection.retrieve(wanted, vectors=[DENSE], payload=["genres"])
        vectors = {r.id: np.asarray(r.vectors[DENSE], dtype=np.float32) for r in records if DENSE in r.vectors}
        liked = _mean(vectors, taste.positives)
        if liked is None:
            return [], taste
        disliked = _mean(vectors, taste.negatives)
        query = _unit(liked - weights.negative * disliked if disliked is not None and weights.negative else liked)
        # Every anime the filters allow, by closeness to the taste (the catalogue is small enough),
        # as two arrays: ids and scores (a ``Hit`` per candidate and their payloads cost more than
        # the engine's search at 3,000 of them); their facts come from the process's table. A full
        # scan: at 3,000 of ~22,000 it beats the graph (5.4 against 6.5-7.1 ms) and is exact.
        pool = collection.nearest(
            VectorQuery(DENSE, query.tolist()), limit=max(CANDIDATES, limit * 5), filter=query_filter, exact=True
        )
        if not len(pool):
            return [], taste
        table = catalogue_table()
        at = table.positions(pool.ids)  # -1: not in the table (an index ahead of the database)
        similarity = pool.scores
        rank = _z(similarity)
        if weights.popularity:
            rank = rank + weights.popularity * _z(table.take(table.log_members, at, 0.0))
        if weights.quality:
            rank = rank + weights.quality * _z(table.take(table.score, at, 0.0))
        if weights.tags:
            listed = {r.id: list(r.payload.get("genres") or []) for r in records}
            affinity = tag_affinity(taste, listed, table.tag_rates, weights.negative)
            rank = rank + weights.tags * _z(table.genre_sums(at, affinity))
        franchise = table.take(table.franchise, at, "")
        order = first_per_franchise(np.argsort(-rank, kind="stable").tolist(), lambda i: franchise[i], limit)
        chosen = [(int(pool.ids[i]), float(similarity[i])) for i in order]
        found = collection.retrieve([m for m, _ in chosen], vectors=[DENSE])
    candidate_vectors = {r.id: np.asarray(r.vectors[DENSE], dtype=np.float32) for r in found if DENSE in r.vectors}
    liked_ids = [m for m in taste.positives if m in vectors]
    liked_matrix = np.stack([vectors[m] for m in liked_ids])
    out = []
    for mal_id, score in chosen:
        closest: list[int] = []
        if mal_id in candidate_vectors:
            closeness = liked_matrix @ candidate_vectors[mal_id]
            closest = [liked_ids[i] for i in np.argsort(-closeness)[:2]]
        out.append((mal_id, score, closest))
    return out, taste


@dataclass(frozen=True)
class Facts:
    """What the ranking reads of one candidate (``CatalogueTable.facts``)."""

    franchise_key: str = ""
    members: int = 0
    score: float = 0.0
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogueTable:
    """Franchise, members, score and genres of every anime as arrays by position (ids sorted), so
    that ranking 3,000 candidates is a handful of numpy operations; with each genre's share of the
    catalogue."""

    ids: np.ndarray  # int64, ascending
    franchise: np.ndarray  # str keys ("" none)
    members: np.ndarray  # int64
    log_members: np.ndarray
    score: np.ndarray  # 0.0 unknown
    genre_ids: np.ndarray  # every (anime, genre) pair: the genre's position in ``genre_names``
    genre_owner: np.ndarray  # and the anime's position
    genre_names: tuple[str, ...]
    tag_rates: dict[str, float]

    @classmethod
    def build(cls) -> CatalogueTable:
        genres: dict[int, list[str]] = {}
        for mal_id, name in Anime.genres.through.objects.values_list("anime__mal_id", "genre__name"):
            genres.setdefault(mal_id, []).append(name)
        names = tuple(sorted({name for held in genres.values() for name in held}))
        position = {name: i for i, name in enumerate(names)}
        rows = sorted(Anime.objects.values_list("mal_id", "franchise_key", "members", "score"))
        held = [sorted(position[n] for n in genres.get(mal_id, ())) for mal_id, *_ in rows]
        members = np.array([m or 0 for _, _, m, _ in rows], dtype=np.int64)
        genre_ids = np.fromiter(chain.from_iterable(held), dtype=np.intp)
        counts = np.bincount(genre_ids, minlength=len(names))
        total = len(rows)
        return cls(
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            franchise=np.array([key or "" for _, key, _, _ in rows], dtype=object),
            members=members,
            log_members=np.log1p(members.astype(np.float64)),
            score=np.array([float(s or 0) for *_, s in rows], dtype=np.float64),
            genre_ids=genre_ids,
            genre_owner=np.repeat(np.arange(len(held), dtype=np.intp), [len(h) for h in held]),
            genre_names=names,
            tag_rates={name: int(counts[i]) / total for i, name in enumerate(names)} if total else {},
        )

    def positions(self, mal_ids: np.ndarray) -> np.ndarray:
        """Each id's position in the table, -1 for an id it lacks."""
        if not len(self.ids):
            return np.full(len(mal_ids), -1, dtype=np.intp)
        at = np.minimum(np.searchsorted(self.ids, mal_ids), len(self.ids) - 1)
        return np.where(self.ids[at] == mal_ids, at, -1)

    def take(self, column: np.ndarray, at: np.ndarray, missing: object) -> np.ndarray:
        """``column``'s values at the positions ``at``, ``missing`` where a position is -1."""
        if not len(self.ids):
            return np.full(len(at), missing, dtype=column.dtype)
        return np.where(at >= 0, column[np.maximum(at, 0)], missing)

    def genre_sums(self, at: np.ndarray, weight_of: Mapping[str, float]) -> np.ndarray:
        """For each position of ``at`` (-1: none), the sum of its genres' weights."""
        weight = np.array([weight_of.get(name, 0.0) for name in self.genre_names], dtype=np.float64)
        per_anime = np.bincount(self.genre_owner, weights=weight[self.genre_ids], minlength=len(self.ids))
        return self.take(per_anime, at, 0.0)

    def facts(self, mal_id: int) -> Facts | None:
        at = int(self.positions(np.array([mal_id], dtype=np.int64))[0])
        if at < 0:
            return None
        return Facts(
            franchise_key=str(self.franchise[at]),
            members=int(self.members[at]),
            score=float(self.score[at]),
            genres=tuple(self.genre_names[g] for g in self.genre_ids[self.genre_owner == at]),
        )


_table: tuple[tuple[object, ...], CatalogueTable] | None = None


def catalogue_table() -> CatalogueTable:
    """The ``CatalogueTable`` of this process, rebuilt when the catalogue changes (~22,000 anime,
    about a second)."""
    global _table
    version = catalogue_version()
    if _table is None or _table[0] != version:
        _table = (version, CatalogueTable.build())
    return _table[1]


def popular_unseen(
    entries: Mapping[int, Entry], *, criteria: AnimeCriteria | None = None, limit: int = 10
) -> list[int]:
    """The most-members anime not on the list, one per franchise (the baseline, and the answer
    when the index cannot give one)."""
    base = (criteria or AnimeCriteria()).apply(Anime.objects.all())
    rows = (
        base.exclude(mal_id__in=list(entries))
        .order_by(F("members").desc(nulls_last=True), "mal_id")
        .values_list("mal_id", "franchise_key")[: limit * 10]
    )
    return [mal_id for mal_id, _ in first_per_franchise(rows, lambda row: row[1], limit)]


def recommend(
    entries: Mapping[int, Entry], *, criteria: AnimeCriteria | None = None, limit: int = 10
) -> RecommendResults:
    """Recommendations for a list (see the module), each with its reason; the most popular
    anime not on the list when the index cannot answer (``degraded``)."""
    try:
        ranked, taste = ranked_ids(entries, criteria=criteria, limit=limit)
        degraded, notice = False, ""
    except EngineError:
        taste = taste_of(entries)
        ranked = [(m, 0.0, []) for m in popular_unseen(entries, criteria=criteria, limit=limit)]
        degraded, notice = (
            True,
            "The search index cannot answer right now: these are the most popular anime not on your list.",
        )
    objects = Anime.objects.with_genres().in_bulk([m for m, *_ in ranked])
    items = []
    for mal_id, score, closest in ranked:
        anime = objects.get(mal_id)
        if anime is None:
            continue
        because = [(m, entries[m].title or str(m), entries[m].score) for m in closest if m in entries]
        items.append(Recommendation(anime=anime, score=score, because=because))
    titles = Anime.objects.in_bulk([m for item in items for m, *_ in item.because])
    for item in items:  # the catalogue's title reads better than the export's
        item.because = [(m, titles[m].display_title if m in titles else t, s) for m, t, s in item.because]
    return RecommendResults(
        items=items, degraded=degraded, notice=notice, positives=len(taste.positives), negatives=len(taste.negatives)
    )
