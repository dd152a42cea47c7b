"""Offline check of the recommendations: do they find what a user rated high but we hid?

There are no genuine MyAnimeList exports to test on here, so test lists are built from the
catalogue's own data, with a taste that is not the recommender's own signal: each simulated user
likes two genres or themes (tags the synopsis embedding never sees as such), and their list holds
``--list-size`` anime, one per franchise, drawn in proportion to the square root of the members
(people list popular anime) and four times as often when a liked tag is there. Their rating is the
anime's MyAnimeList score, +1.5 for a liked tag, -0.5 otherwise, plus a personal offset and noise,
rounded to 1-10; ratings of 5 or less are "Dropped" half of the time. ``--hide`` of each user's
entries rated 8 or more are taken off the list; the recommender sees the rest. A hit is a hidden
anime's franchise among the top 10 cards (one per franchise). The baseline recommends the most
popular anime not on the list.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.lists.recommend import (
    NEGATIVE_WEIGHT,
    POPULARITY_WEIGHT,
    QUALITY_WEIGHT,
    TAG_WEIGHT,
    Weights,
    popular_unseen,
    ranked_ids,
)
from catalog.lists.selectors import Entry
from catalog.models import Anime, ListStatus

K = 10


def _dcg(relevance: list[int]) -> float:
    return sum(r / math.log2(i + 2) for i, r in enumerate(relevance))


def score_ranking(franchises: list[str], relevant: set[str]) -> tuple[float, float]:
    """(hit@10, nDCG@10) of a ranking of franchise keys against the relevant ones."""
    relevance = [1 if f in relevant else 0 for f in franchises[:K]]
    ideal = _dcg([1] * min(len(relevant), K))
    return float(any(relevance)), (_dcg(relevance) / ideal if ideal else 0.0)


def weights_option(options: dict[str, Any], name: str) -> list[float]:
    """A comma-separated list of non-negative weights; ``CommandError`` naming the option otherwise."""
    flag = "--" + name.replace("_", "-")
    try:
        weights = [float(w) for w in options[name].split(",") if w.strip()]
    except ValueError:
        raise CommandError(f"{flag}: comma-separated numbers, e.g. 0,0.5 (got {options[name]!r})") from None
    if not weights or any(w < 0 or not math.isfinite(w) for w in weights):
        raise CommandError(f"{flag}: at least one weight, none negative (got {options[name]!r})")
    return weights


class Command(BaseCommand):
    help = "Hit@10 and nDCG@10 of the list recommendations on simulated lists, against most-popular-unseen."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument("--list-size", type=int, default=40)
        parser.add_argument("--hide", type=float, default=0.3, help="share of the 8+ entries hidden")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--negative-weights",
            default=f"{NEGATIVE_WEIGHT},0.5",
            help="comma-separated weights of the disliked anime to compare",
        )
        parser.add_argument(
            "--popularity-weights",
            default=f"0,{POPULARITY_WEIGHT}",
            help="comma-separated weights of the popularity prior to compare",
        )
        parser.add_argument(
            "--quality-weights", default=f"0,{QUALITY_WEIGHT}", help="comma-separated weights of the score prior"
        )
        parser.add_argument("--tag-weights", default=f"0,{TAG_WEIGHT}", help="comma-separated weights of the tag fit")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] < 1:
            raise CommandError("--users must be at least 1")
        if not 2 <= options["list_size"] <= 500:
            raise CommandError("--list-size must be from 2 to 500")
        if not 0 < options["hide"] < 1:
            raise CommandError("--hide is a share: more than 0 and less than 1")
        rng = np.random.default_rng(options["seed"])
        rows = list(Anime.objects.prefetch_related("genres").order_by("mal_id"))
        franchise = {a.mal_id: a.franchise_key or f"mal-{a.mal_id}" for a in rows}
        tags = {a.mal_id: {g.name for g in a.genres.all() if g.kind in ("genre", "theme")} for a in rows}
        counts = Counter(t for ts in tags.values() for t in ts)
        vocabulary = sorted(t for t, n in counts.items() if n >= 40)
        # One anime per franchise: its most popular entry.
        best: dict[str, Anime] = {}
        for a in rows:
            key = franchise[a.mal_id]
            if key not in best or (a.members or 0) > (best[key].members or 0):
                best[key] = a
        pool = list(best.values())
        members = np.sqrt(np.array([a.members or 1 for a in pool], dtype=np.float64))
        negative, popular, quality, tag_weights = (
            weights_option(options, name)
            for name in ("negative_weights", "popularity_weights", "quality_weights", "tag_weights")
        )
        methods: dict[str, Weights | None] = {"most popular unseen": None}
        methods.update(
            {
                f"disliked x{n:g}, popular x{p:g}, score x{q:g}, tags x{t:g}": Weights(n, p, q, t)
                for n in negative
                for p in popular
                for q in quality
                for t in tag_weights
            }
        )
        totals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        seconds: dict[str, float] = defaultdict(float)
        users = 0
        for _ in tqdm(range(options["users"]), desc="lists", unit="list", disable=options["json"]):
            liked = set(rng.choice(vocabulary, size=2, replace=False).tolist())
            match = np.array([bool(tags[a.mal_id] & liked) for a in pool])
            p = members * np.where(match, 4.0, 1.0)
            chosen = rng.choice(len(pool), size=options["list_size"], replace=False, p=p / p.sum())
            offset = rng.normal(0, 0.5)
            entries: dict[int, Entry] = {}
            for i in chosen:
                anime = pool[i]
                rating = (anime.score or 7.0) + (1.5 if match[i] else -0.5) + offset + rng.normal(0, 0.7)
                score = int(min(10, max(1, round(rating))))
                status = ListStatus.DROPPED if score <= 5 and rng.random() < 0.5 else ListStatus.COMPLETED
                entries[anime.mal_id] = Entry(status.value, score, anime.title)
            high = [m for m, e in entries.items() if e.score >= 8]
            if len(high) < 2:
                continue
            hidden = set(rng.choice(high, size=max(1, round(len(high) * options["hide"])), replace=False).tolist())
            visible = {m: e for m, e in entries.items() if m not in hidden}
            relevant = {franchise[m] for m in hidden}
            users += 1
            for name, setting in methods.items():
                started = time.perf_counter()
                if setting is None:
                    ids = popular_unseen(visible, limit=K)
                else:
                    ranked = ranked_ids(visible, limit=K, weights=setting)[0]
                    ids = [m for m, *_ in ranked]
                seconds[name] += time.perf_counter() - started
                totals[name].append(score_ranking([franchise.get(m, f"mal-{m}") for m in ids], relevant))
        report = {
            name: {
                "hit@10": round(float(np.mean([h for h, _ in values])), 4),
                "ndcg@10": round(float(np.mean([n for _, n in values])), 4),
                "ms_per_list": round(1000 * seconds[name] / max(1, len(values)), 1),
            }
            for name, values in totals.items()
        }
        if options["json"]:
            self.stdout.write(json.dumps({"lists": users, "methods": report}))
            return
        self.stdout.write(
            f"{users} simulated lists of {options['list_size']} (one anime per franchise), "
            f"{options['hide']:.0%} of the 8+ ratings hidden; tags liked from {len(vocabulary)} genres/themes"
        )
        self.stdout.write(f"{'method':<48} {'hit@10':>8} {'nDCG@10':>8} {'ms/list':>8}")
        for name, figures in report.items():
            self.stdout.write(
                f"{name:<48} {figures['hit@10']:>8.3f} {figures['ndcg@10']:>8.3f} {figures['ms_per_list']:>8.1f}"
            )
