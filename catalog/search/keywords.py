"""The deterministic keyword tokenizer behind the sparse (BM25-style) vector.

Token ids are ``zlib.crc32`` of the token: the same in every process and after every restart
(the seed project used Python's salted ``hash()``, so its stored keyword vectors never matched
a later query). Qdrant applies the IDF (``Modifier.IDF``); documents carry BM25's saturated,
length-normalised term frequency, queries a weight of 1 per distinct token.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter

# BM25's usual parameters (Robertson & Zaragoza); AVG_DOC_TOKENS is fixed here so that indexing
# one batch gives the same weights as indexing everything. It was the mean keyword-text length of
# the first (popular) catalogue; the whole catalogue's mean is ~47 tokens (49 with tags), but
# re-deriving it to 47 lowered hit@10 on both halves of search_eval (308: 0.782 -> 0.750, 224:
# 0.670 -> 0.652): a softer length penalty suits the many short entries, so 95 stays (measured).
BM25_K1 = 1.2
BM25_B = 0.75
AVG_DOC_TOKENS = 95.0
# The episode-title field (BM25F, ``document_sparse``): its mean length over the 6,977 anime with
# content-bearing episode titles is 49 tokens (median 28); a term there counts this much of one in
# the main text.
AVG_EPISODE_TOKENS = 49.0
EPISODE_WEIGHT = 0.5

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves s t don now also one two get gets
    got become becomes becoming anime story series""".split()
)

_TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case with accents removed (ō -> o, é -> e)."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def stem(token: str) -> str:
    """A light English stemmer: plurals, -ing, -ed. Conservative on short words so names stay
    intact (Goku, Titan, Luffy)."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "ches", "shes", "xes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
    for suffix in ("ing", "ed"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            token = token[: -len(suffix)]
            if len(token) > 2 and token[-1] == token[-2] and token[-1] not in "lsz":
                token = token[:-1]  # running -> run, stopped -> stop
            break
    return token


def keyword_tokens(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(fold(text)) if t not in STOP_WORDS]


def token_id(token: str) -> int:
    return zlib.crc32(token.encode("utf-8"))


def document_sparse(text: str, *, episodes: str = "") -> tuple[list[int], list[float]]:
    """BM25 term weights of a document (IDF is applied by Qdrant), with the episode titles as a
    field of their own: BM25F (Robertson, Zaragoza & Taylor 2004), each field's term frequency
    normalised by that field's length against its own average, weighted, summed, and saturated
    once. So a long-running show's hundreds of episode titles neither lengthen (and so weaken) its
    main text nor outweigh it; with no episode text this is plain BM25 of ``text``."""
    frequencies: dict[str, float] = {}
    for field_text, weight, average in ((text, 1.0, AVG_DOC_TOKENS), (episodes, EPISODE_WEIGHT, AVG_EPISODE_TOKENS)):
        counts = Counter(keyword_tokens(field_text))
        norm = 1 - BM25_B + BM25_B * sum(counts.values()) / average
        for token, tf in counts.items():
            frequencies[token] = frequencies.get(token, 0.0) + weight * tf / norm
    weights: dict[int, float] = {}
    for token, tf in frequencies.items():
        tid = token_id(token)
        weights[tid] = weights.get(tid, 0.0) + tf * (BM25_K1 + 1) / (tf + BM25_K1)
    indices = sorted(weights)
    return indices, [weights[i] for i in indices]


def query_sparse(text: str) -> tuple[list[int], list[float]]:
    indices = sorted({token_id(t) for t in keyword_tokens(text)})
    return indices, [1.0] * len(indices)
