"""Byte-pair encoding (BPE) of words into subword units: learning merges and applying them.

Paper: R. Sennrich, B. Haddow, A. Birch, 2016, "Neural Machine Translation of Rare Words with
Subword Units", ACL, arXiv:1508.07909 (after P. Gage, 1994, "A New Algorithm for Data
Compression", C Users Journal 12(2)).

Learning.  A corpus is a count c(w) per word w; each word starts as its characters followed by the
end-of-word symbol ``</w>``.  For adjacent symbols (x, y) let

    n(x, y) = sum_w c(w) * (number of positions i with w_i = x, w_{i+1} = y)

(every position counts, so "a a a" holds (a, a) twice).  Each step takes the pair with the largest
n, ties to the pair that sorts first as a (left, right) tuple of strings, replaces every occurrence
in every word, scanning left to right (so "a a a" becomes "aa a"), by the symbol xy, and records
(x, y).  It stops after ``num_merges`` merges or when no word has two symbols left.  (The paper's
printed example breaks ties by first appearance, so its merges differ from these from the sixth.)

Applying.  A word is split the same way and, while any adjacent pair is a learned merge, every
occurrence of the pair learned earliest is merged, left to right.

The learner keeps pair counts and, for each pair, the words holding it, so a merge only revisits
those words (the paper's incremental variant); a heap with stale entries skipped finds the best.
"""

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

__all__ = ["END_OF_WORD", "bpe_encode", "bpe_train"]

END_OF_WORD = "</w>"

Pair = tuple[str, str]


def _symbols(word: str) -> list[str]:
    return [*word, END_OF_WORD]


def _merge(symbols: list[str], pair: Pair) -> list[str]:
    """Every occurrence of ``pair`` merged, scanning left to right."""
    left, right = pair
    last = len(symbols) - 1
    out: list[str] = []
    i = 0
    while i <= last:
        if i < last and symbols[i] == left and symbols[i + 1] == right:
            out.append(left + right)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def bpe_train(word_counts: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    """The merges learned from ``word_counts``, in the order they were learned."""
    if isinstance(num_merges, bool) or not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be a non-negative integer, got {num_merges!r}")
    if not isinstance(word_counts, dict):
        raise ValueError(f"word_counts must be a dict of word -> count, got {type(word_counts)}")
    for word, count in word_counts.items():
        if not isinstance(word, str) or not word:
            raise ValueError(f"word_counts keys must be non-empty strings, got {word!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(
                f"word_counts values must be positive integers, got {word!r}: {count!r}"
            )
    words = [_symbols(word) for word in word_counts]
    counts = list(word_counts.values())
    pair_counts: Counter[Pair] = Counter()
    holders: defaultdict[Pair, set[int]] = defaultdict(set)
    for index, symbols in enumerate(words):
        for pair in pairwise(symbols):
            pair_counts[pair] += counts[index]
            holders[pair].add(index)
    # Max-heap by count, then the smallest pair; entries whose count has changed are stale.
    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[Pair] = []
    while len(merges) < num_merges and heap:
        negative, best = heapq.heappop(heap)
        if pair_counts.get(best, 0) != -negative:
            continue
        merges.append(best)
        changed: set[Pair] = set()
        for index in sorted(holders.pop(best)):
            old, weight = words[index], counts[index]
            for pair in pairwise(old):
                pair_counts[pair] -= weight
                changed.add(pair)
            words[index] = new = _merge(old, best)
            for pair in pairwise(new):
                pair_counts[pair] += weight
                holders[pair].add(index)
                changed.add(pair)
        for pair in changed:
            n = pair_counts[pair]
            if n > 0:
                heapq.heappush(heap, (-n, pair))
            else:
                del pair_counts[pair]
                holders.pop(pair, None)
    return merges


@lru_cache(maxsize=8)
def _ranks(merges: tuple[Pair, ...]) -> dict[Pair, int]:
    """The earliest rank of each merge (cached: encoding a text reuses one list of merges)."""
    if not all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
        for pair in merges
    ):
        raise ValueError("merges must hold (left, right) string pairs")
    return {pair: rank for rank, pair in reversed(list(enumerate(merges)))}


def bpe_encode(word: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """The symbols of ``word`` after applying ``merges`` (the last one ends with ``</w>``)."""
    if not isinstance(word, str) or not word:
        raise ValueError(f"word must be a non-empty string, got {word!r}")
    try:
        ranks = _ranks(tuple(merges))
    except TypeError:  # an unhashable entry
        raise ValueError("merges must hold (left, right) string pairs") from None
    symbols = _symbols(word)
    never = len(merges)
    while len(symbols) > 1:
        best = min(ranks.get(pair, never) for pair in pairwise(symbols))
        if best == never:
            break
        symbols = _merge(symbols, (merges[best][0], merges[best][1]))
    return symbols
