"""The rerank of the fused candidates with the query's soft cues (``understanding.Cue``).

A candidate's score is the engine's fused score (reciprocal-rank fusion of the rankings) plus a
boost for each cue it matches: its type, a studio, a year in (or near) the remembered years, an
episode count in range. A boost moves a candidate up a few places, never from nowhere into first:
the cues are memories, often wrong, so they break ties between plot matches rather than replace
them. One boost size for every cue (``CUE_BOOST``), chosen on the dev set's cue queries and
checked on all the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from catalog.search.engine import Condition, Filter, MatchAny
from catalog.search.results import Candidate
from catalog.search.understanding import Cue

# With k = 10, the fused score of a first place in two rankings is ~0.2 and of a tenth ~0.1: a
# boost of 0.02 lifts a candidate past the few just above it.
CUE_BOOST = 0.03
# How much more often an anime is remembered the more people watched it: a prior of this size per
# tenfold more members (``catalog.popularity``'s estimate, known or not) than the floor. The floor is
# the catalogue's median estimate (~1,900): the less-known half all start even, so an obscure anime
# a query describes well is never buried under a slightly better-known one. Ablation (hybrid, the
# 308 / the 224, hit@10): no prior 0.718 / 0.670; raw members, floor 100,000 0.733 / 0.670; raw
# members, floor 1,000 0.757 / 0.692; the estimate, floor 1,000 0.759 / 0.696, floor 2,000 the same
# with the cues of this change (0.778 / 0.737 both), floor 10,000 0.752 / 0.683.
POPULARITY_PRIOR = 0.02
POPULARITY_FLOOR = 2_000
# "estimate": catalog.popularity's estimate (payload "popularity"); "members": the raw count.
POPULARITY_SOURCE = "estimate"
# A year this far outside the remembered years still counts half (memories of dates drift).
YEAR_SLACK = 2


def cue_matches(cue: Cue, payload: dict[str, object]) -> float:
    """1 for a match, 0.5 for a near one (a year just outside), else 0."""
    if cue.types:
        return 1.0 if payload.get("type") in cue.types else 0.0
    if cue.countries:
        return 1.0 if payload.get("country") in cue.countries else 0.0
    if cue.studios:
        studios = payload.get("studios") or []
        return 1.0 if any(s in cue.studios for s in studios) else 0.0  # type: ignore[union-attr]
    if cue.years is not None:
        year = payload.get("year")
        if not isinstance(year, int):
            return 0.0
        low, high = cue.years
        if low <= year <= high:
            return 1.0
        return 0.5 if low - YEAR_SLACK <= year <= high + YEAR_SLACK else 0.0
    if cue.episodes is not None:
        episodes = payload.get("episodes")
        low, high = cue.episodes
        return 1.0 if isinstance(episodes, int) and low <= episodes <= high else 0.0
    return 0.0


def rerank(candidates: Sequence[Candidate], cues: Sequence[Cue]) -> tuple[list[Candidate], dict[int, list[str]]]:
    """Candidates in their new order, and for each the labels of the cues it matched."""
    if not cues and not POPULARITY_PRIOR:
        return list(candidates), {}
    matched: dict[int, list[str]] = {}
    scored: list[tuple[float, int, Candidate]] = []
    for position, candidate in enumerate(candidates):
        boost = popularity_boost(candidate)
        for cue in cues:
            share = cue_matches(cue, candidate.fields or {})
            if share:
                boost += CUE_BOOST * share
                matched.setdefault(candidate.mal_id, []).append(cue.label)
        scored.append((candidate.score + boost, -position, replace_score(candidate, candidate.score + boost)))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [item[2] for item in scored], matched


def popularity_of(candidate: Candidate) -> float:
    """The estimate of ``catalog.popularity`` from the payload (the raw count where it is absent)."""
    if POPULARITY_SOURCE == "estimate":
        estimate = (candidate.fields or {}).get("popularity")
        if isinstance(estimate, int | float) and estimate > 0:
            return float(estimate)
    return float(candidate.members)


def popularity_boost(candidate: Candidate) -> float:
    return POPULARITY_PRIOR * math.log10(max(popularity_of(candidate), POPULARITY_FLOOR) / POPULARITY_FLOOR)


def replace_score(candidate: Candidate, score: float) -> Candidate:
    return candidate._replace(score=score)


def cue_subset(cues: Sequence[Cue]) -> Filter | None:
    """The anime the query's studio and medium cues describe ("a Ghibli movie": Studio Ghibli's
    movies), for a ranking inside them beside the whole catalogue's (``service.vector_query``).
    Among ~22,000 anime a plot remembered loosely can miss the top candidates, where it is near the
    top among a studio's few hundred; the whole catalogue's rankings still count, so a wrong cue
    costs the answer places, not its candidacy (7 probes with a wrong cue: ranks 1, 1, 4, 1, 1, -,
    7 without the subset, 4, 1, 10, 1, 1, -, 15 with it). Eras and episode counts stay boosts
    only: memories of dates and lengths drift (a hedged "90s" Ghibli movie from 2013). None
    without such cues. Measured on the 532 dev queries (README, "Search quality")."""
    conditions: list[Condition] = []
    for cue in cues:
        if cue.studios:
            conditions.append(MatchAny("studios", tuple(sorted(cue.studios))))
        elif cue.types:
            conditions.append(MatchAny("type", tuple(sorted(cue.types))))
    return Filter(must=tuple(conditions)) if conditions else None
