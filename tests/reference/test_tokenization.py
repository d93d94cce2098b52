"""reference.tokenization against hand-checked small corpora and the paper's own algorithm: the
string-and-regex code printed by Sennrich et al. (2016), with the tie rule of issue 19."""

import collections
import re
from collections.abc import Callable

import pytest

from reference import tokenization as tok

# Sennrich et al.'s Figure 1 corpus.
PAPER = {"low": 5, "lower": 2, "newest": 6, "widest": 3}


def paper_bpe(word_counts: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    """The paper's Figure 1 algorithm: words as space-separated symbols, pair statistics
    recounted from scratch each step, merges by regular expression; ties to the smallest pair."""
    vocab = {" ".join([*word, "</w>"]): count for word, count in word_counts.items()}
    merges = []
    for _ in range(num_merges):
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for word, freq in vocab.items():
            symbols = word.split()
            for i in range(len(symbols) - 1):
                pairs[symbols[i], symbols[i + 1]] += freq
        if not pairs:
            break
        top = max(pairs.values())
        best = min(pair for pair, n in pairs.items() if n == top)
        vocab = {merge_all(word, best): freq for word, freq in vocab.items()}
        merges.append(best)
    return merges


def merge_all(word: str, pair: tuple[str, str]) -> str:
    """The paper's merge of a space-separated word: a regular expression, left to right."""
    pattern = re.compile(r"(?<!\S)" + re.escape(" ".join(pair)) + r"(?!\S)")
    return pattern.sub("".join(pair), word)


def test_the_papers_corpus_by_hand() -> None:
    """Counts: (e,s) = (s,t) = (t,</w>) = 9 tie, the smallest tuple first; then (l,o) = (o,w) = 7;
    then (e,w) = (n,e) = (w,est</w>) = 6, where the paper (first appearance) takes (n,e)."""
    assert tok.bpe_train(PAPER, 10) == [
        ("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w"), ("e", "w"),
        ("ew", "est</w>"), ("n", "ewest</w>"), ("low", "</w>"), ("d", "est</w>"),
    ]  # fmt: skip


def test_every_position_counts_and_merges_go_left_to_right() -> None:
    # "aaa" holds (a, a) twice: 2 x 1 = 2 beats (a, </w>) once with weight 1 ... and (b, </w>) = 1.
    merges = tok.bpe_train({"aaa": 1, "b": 1}, 3)
    assert merges[0] == ("a", "a")
    assert tok.bpe_encode("aaa", merges[:1]) == ["aa", "a", "</w>"]
    assert tok.bpe_encode("aaaa", merges[:1]) == ["aa", "aa", "</w>"]
    # After (a, a): "aa a </w>" has (aa, a) and (a, </w>), once each; "b </w>" has (b, </w>).
    assert merges[1:] == [("a", "</w>"), ("aa", "a</w>")]


def test_training_stops_when_no_pair_is_left() -> None:
    merges = tok.bpe_train({"ab": 3, "c": 1}, 100)
    assert merges == [("a", "b"), ("ab", "</w>"), ("c", "</w>")]
    assert tok.bpe_train({"ab": 3}, 0) == []


CORPORA = [
    PAPER,
    {"banana": 3, "bandana": 2, "ban": 4, "nab": 1, "aaaa": 2, "anana": 1},
    {"the": 9, "then": 3, "there": 4, "these": 2, "other": 3, "tether": 1, "ee": 5, "eee": 2},
]


@pytest.mark.parametrize("corpus", CORPORA, ids=range(len(CORPORA)))
def test_matches_the_papers_algorithm(corpus: dict[str, int]) -> None:
    assert tok.bpe_train(corpus, 40) == paper_bpe(corpus, 40)


@pytest.mark.parametrize("corpus", CORPORA, ids=range(len(CORPORA)))
def test_encoding_a_training_word_gives_its_trained_segmentation(corpus: dict[str, int]) -> None:
    for k in (0, 3, 8, 40):
        merges = tok.bpe_train(corpus, k)
        for word in corpus:
            trained = " ".join([*word, "</w>"])
            for pair in merges:  # the merges in order, as training applied them
                trained = merge_all(trained, pair)
            encoded = tok.bpe_encode(word, merges)
            assert encoded == trained.split()
            assert "".join(encoded) == word + "</w>" and encoded[-1].endswith("</w>")
            assert len(encoded) <= len(word) + 1


def test_encode_by_hand() -> None:
    merges = tok.bpe_train(PAPER, 10)
    # e s -> es, es t -> est, est </w> -> est</w>, l o -> lo, lo w -> low.
    assert tok.bpe_encode("lowest", merges) == ["low", "est</w>"]
    assert tok.bpe_encode("newer", merges) == ["n", "ew", "e", "r", "</w>"]
    assert tok.bpe_encode("low", merges) == ["low</w>"]
    assert tok.bpe_encode("zzz", merges) == ["z", "z", "z", "</w>"]
    # The earliest-learned pair wins even if it appears later in the word.
    assert tok.bpe_encode("ab", [("b", "</w>"), ("a", "b")]) == ["a", "b</w>"]


BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: tok.bpe_train({"a": 1}, -1), "num_merges"),
    (lambda: tok.bpe_train([("a", 1)], 1), "word_counts"),  # type: ignore[arg-type]
    (lambda: tok.bpe_train({"": 1}, 1), "word_counts"),
    (lambda: tok.bpe_train({"a": 0}, 1), "word_counts"),
    (lambda: tok.bpe_encode("", []), "word"),
    (lambda: tok.bpe_encode("ab", [("a",)]), "merges"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("call", "name"), BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_arguments_are_named(call: Callable[[], object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
