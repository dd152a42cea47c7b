from __future__ import annotations

import numpy as np
import pytest

from catalog.tiers import Cutoffs
from evaluator.franchise import FRANCHISE_NAMES, FranchiseHistory
from evaluator.records import RecordEncoder, RecordRows
from evaluator.training import TrainingData, tier_labels

CUTOFFS = Cutoffs(7.08, 7.47, 7.93)
COLUMN = {name: i for i, name in enumerate(FRANCHISE_NAMES)}

# Franchise "a": 1 (2000) <- 2 (2002, prequel 1) <- 3 (2004, prequel 2) <- 4 (2006, prequel 3),
# and 5 (2005), a side story whose parent story is 3. Franchise "b": 6 (2001), 7 (2003, prequel 6).
# Relations are messy: 3 also names its later sequel 4 as a parent story; the release-time filter
# must keep 4 out of 3's history.
MAL_IDS = np.array([1, 2, 3, 4, 5, 6, 7])
FOLLOWS = [(), (1,), (2, 4), (3,), (3,), (), (6,)]
WHEN = np.array([2000.0, 2002.0, 2004.0, 2006.0, 2005.0, 2001.0, 2003.0])
GROUPS = np.array(["a", "a", "a", "a", "a", "b", "b"])
VOTES = np.array([1000, 2000, 3000, 4000, 500, 100, 200])
GRAPH = {int(m): f for m, f in zip(MAL_IDS, FOLLOWS, strict=True) if f}


def _rows() -> RecordRows:
    return RecordRows(
        studios=[()] * len(MAL_IDS),
        when=WHEN,
        groups=GROUPS,
        embeddings=np.eye(len(MAL_IDS), dtype=np.float32),
        follows=FOLLOWS,
        mal_ids=MAL_IDS,
        votes=VOTES,
        titles=[f"Show {m}" for m in MAL_IDS],
    )


def _data(scores: np.ndarray) -> TrainingData:
    return TrainingData(
        X=np.zeros((len(MAL_IDS), 1)), y=tier_labels(scores, CUTOFFS), scores=scores, groups=GROUPS,
        mal_ids=MAL_IDS, cutoffs=CUTOFFS, records=_rows(), record_groups=("franchise",), follows_graph=GRAPH,
    )  # fmt: skip


SCORES = np.array([7.0, 7.5, 8.0, 8.5, 6.5, 6.0, 6.2])


def test_it_follows_prequels_and_parent_stories_through_earlier_entries_only():
    history = FranchiseHistory(GRAPH).fit(mal_ids=MAL_IDS, scores=SCORES, votes=VOTES, when=WHEN)
    assert [e.mal_id for e in history.earlier((3,), 2006.0, own=4)] == [1, 2, 3]
    # The side story 5 follows its parent 3 (and so 2 and 1); 4 started later and never counts.
    assert [e.mal_id for e in history.earlier((3,), 2005.0, own=5)] == [1, 2, 3]
    # An entry that started at the same time or later is no history.
    assert [e.mal_id for e in history.earlier((3,), 2004.0)] == [1, 2]
    assert history.earlier((3,), 2000.0) == []
    # A cycle in the relations does not loop.
    looped = FranchiseHistory({1: (2,), 2: (1,)}).fit(mal_ids=[1, 2], scores=[7.0, 8.0], votes=[1, 1], when=[1.0, 2.0])
    assert [e.mal_id for e in looped.earlier((2,), 3.0)] == [1, 2]


def test_its_columns_describe_the_latest_entry_and_all_earlier_ones():
    encoder = RecordEncoder(["franchise"], GRAPH).fit(_rows(), SCORES)
    columns = encoder.transform(_rows())
    prior = SCORES.mean()
    fourth = columns[3]
    assert fourth[COLUMN["franchise:has_history"]] == 1.0
    assert fourth[COLUMN["franchise:last_score"]] == pytest.approx(8.0 - prior)
    assert fourth[COLUMN["franchise:mean_score"]] == pytest.approx(np.mean([7.0, 7.5, 8.0]) - prior)
    assert fourth[COLUMN["franchise:last_votes"]] == pytest.approx(np.log1p(3000))
    assert fourth[COLUMN["franchise:entries"]] == pytest.approx(np.log1p(3))
    assert fourth[COLUMN["franchise:years_since"]] == pytest.approx(2.0)
    # The first entries of both franchises have none.
    assert columns[0].tolist() == [0.0] * len(FRANCHISE_NAMES)
    assert columns[5].tolist() == [0.0] * len(FRANCHISE_NAMES)


def test_its_features_never_move_with_the_anime_own_or_later_scores():
    everything = np.arange(len(MAL_IDS))
    held_out = 2  # MAL id 3: later entries are 4 and 5
    train = np.array([0, 1, 5, 6])

    def features(scores: np.ndarray) -> np.ndarray:
        data = _data(scores)
        # The time split's way: fitted on the training rows, the history from every earlier anime.
        encoder = data.encoder_for(train, everything)
        return data.design(encoder, np.array([held_out]))

    before = features(SCORES)
    changed = SCORES.copy()
    changed[[2, 3, 4]] = [5.0, 9.5, 9.9]  # its own and its later entries' scores
    changed_votes = features(changed)
    assert before[0, 1 + COLUMN["franchise:has_history"]] == 1.0
    # The prior (mean of the training rows) is untouched too: every column stays.
    assert np.array_equal(before, changed_votes)
    # An earlier entry's score does move them.
    earlier = SCORES.copy()
    earlier[1] = 9.0
    assert features(earlier)[0, 1 + COLUMN["franchise:last_score"]] != before[0, 1 + COLUMN["franchise:last_score"]]


def test_a_held_out_franchise_has_no_history_inside_grouped_cv():
    data = _data(SCORES)
    train, test = np.flatnonzero(GROUPS == "b"), np.flatnonzero(GROUPS == "a")
    encoder = data.encoder_for(train)  # no wider pool: the training fold only
    held_out = data.design(encoder, test)[:, 1:]
    assert not held_out.any()
    # Its training rows do have theirs.
    assert data.design(encoder, train)[1, 1 + COLUMN["franchise:has_history"]] == 1.0


def test_its_related_columns_describe_earlier_entries_linked_otherwise():
    # 6 (franchise "b", 2001) is an alternative version that 4 (2006) remakes; 7 (2003) shares 4's
    # characters; 3 is also linked to 4 but is already one of its earlier entries; 5 is linked
    # but started later than 2 and so never counts for 2.
    related = {4: (3, 6, 7), 2: (5,)}
    rows = RecordRows(**{**_rows().__dict__, "related": [related.get(int(m), ()) for m in MAL_IDS]})
    encoder = RecordEncoder(["franchise"], GRAPH).fit(rows, SCORES)
    columns = encoder.transform(rows)
    prior = SCORES.mean()
    fourth = columns[3]
    assert fourth[COLUMN["franchise:related"]] == 1.0
    assert fourth[COLUMN["franchise:related_score"]] == pytest.approx(np.mean([6.0, 6.2]) - prior)
    assert fourth[COLUMN["franchise:related_entries"]] == pytest.approx(np.log1p(2))
    # Its followed history is unchanged by the related entries.
    assert fourth[COLUMN["franchise:entries"]] == pytest.approx(np.log1p(3))
    assert columns[1][COLUMN["franchise:related"]] == 0.0
    assert columns[1][COLUMN["franchise:related_score"]] == 0.0
    # An anime with related entries but no prequel: related columns only.
    alone = encoder.franchise.transform([()], np.array([2010.0]), [99], [(6,)])[0]
    assert alone[COLUMN["franchise:has_history"]] == 0.0
    assert alone[COLUMN["franchise:related_score"]] == pytest.approx(6.0 - prior)
