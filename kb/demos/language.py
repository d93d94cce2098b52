"""Demos on the glossary's own text: decoding a small bigram language model (greedy, beam search,
temperature, top-k and top-p sampling), and byte-pair encoding learned from the summaries.

Both learn from the glossary's text as shipped with the package (kb/demos/corpus.py), so their
results follow the glossary's text as well as their parameters.
"""

import re
import textwrap
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param
from kb.demos.corpus import glossary
from reference import decoding, tokenization

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]

_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _show(ax: "Axes", lines: list[str], title: str, width: int = 64) -> None:
    """Monospaced text in a panel, long lines wrapped to ``width`` characters."""
    ax.set_title(title)
    ax.axis("off")
    wrapped = [
        part
        for line in lines
        for part in textwrap.wrap(line, width, subsequent_indent="    ") or [""]
    ]
    ax.text(0.0, 1.0, "\n".join(wrapped), va="top", ha="left", family="monospace",
            fontsize=7.5, transform=ax.transAxes)  # fmt: skip


# --- decoding a bigram model --------------------------------------------------------------------

BOS, EOS, UNKNOWN = "<s>", ".", "<rare>"
SHOWN_TOKENS = 15


class DecodingParams(DemoParams):
    prompt: str = param(
        "a neural network is trained by",
        "Words to continue (words outside the vocabulary are skipped).",
        max_length=200,
    )
    vocabulary: int = param(1_500, "The most frequent words of the glossary kept.", unit="words",
                            ge=20, le=3_000)  # fmt: skip
    smoothing: float = param(0.01, "Add-alpha smoothing of the bigram counts.", gt=0.0, le=10.0)
    max_len: int = param(12, "Longest continuation.", unit="tokens", ge=1, le=40)
    beam_width: int = param(4, "Hypotheses kept by beam search.", ge=1, le=16)
    length_penalty: float = param(
        1.0, "Beam scores are log-probability / length^length_penalty.", ge=0.0, le=3.0
    )
    temperature: float = param(1.0, "Sampling temperature.", gt=0.0, le=10.0)
    top_k: int | None = Field(
        default=None, ge=1, le=3_000, description="Sample among the k most probable words only."
    )
    top_p: float = param(
        0.9, "Sample from the nucleus of this probability (1 keeps every word).", gt=0.0, le=1.0
    )
    n_samples: int = param(3, "Sampled continuations.", unit="samples", ge=1, le=10)


@cache
def bigram_model(vocabulary: int, smoothing: float) -> tuple[tuple[str, ...], FloatArray]:
    """The vocabulary (BOS, EOS and a stand-in for rarer words first) and log p(next | previous)
    of the glossary's sentences, with add-alpha smoothing."""
    sentences = [
        _words(sentence) for _, body in glossary() for sentence in re.split(r"[.!?](?:\s|$)", body)
    ]
    counts: dict[str, int] = {}
    for sentence in sentences:
        for word in sentence:
            counts[word] = counts.get(word, 0) + 1
    kept = sorted(counts, key=lambda w: (-counts[w], w))[:vocabulary]
    words = (BOS, EOS, UNKNOWN, *kept)
    index = {w: i for i, w in enumerate(words)}
    pairs: list[tuple[int, int]] = []
    for sentence in sentences:
        if sentence:
            pairs += pairwise([0, *(index.get(w, 2) for w in sentence), 1])
    table = np.full((len(words), len(words)), smoothing)
    rows, cols = np.array(pairs).T
    np.add.at(table, (rows, cols), 1.0)
    # Nothing is followed by the start symbol; rare words are counted (so that "the <rare>"
    # does not become "the of" once they are gone) but never generated.
    table[:, [0, 2]] = 0.0
    with np.errstate(divide="ignore"):
        log_probs: FloatArray = np.log(table / table.sum(axis=1, keepdims=True))
    return words, log_probs


def run_decoding(p: DecodingParams) -> DemoOutput:
    words, log_probs = bigram_model(p.vocabulary, p.smoothing)
    index = {w: i for i, w in enumerate(words)}
    prompt = [index[w] for w in _words(p.prompt) if w in index]

    last_prompt_token = prompt[-1] if prompt else 0

    def model(prefix: list[int]) -> FloatArray:
        """The decoders pass [bos, generated...]: the prompt goes between (a bigram only needs
        the last token)."""
        row: FloatArray = log_probs[prefix[-1] if len(prefix) > 1 else last_prompt_token]
        return row

    greedy = decoding.greedy_decode(model, 0, 1, p.max_len)
    beam = decoding.beam_search(model, 0, 1, p.beam_width, p.max_len, p.length_penalty)
    rng = np.random.default_rng(p.seed)
    samples = []
    for _ in range(p.n_samples):
        tokens: list[int] = []
        while len(tokens) < p.max_len and (not tokens or tokens[-1] != 1):
            logits = model([0, *tokens])
            tokens.append(decoding.sample_next(logits, rng, p.temperature, p.top_k, p.top_p))
        samples.append(tokens)

    def per_token(tokens: list[int]) -> float:
        path = [last_prompt_token, *tokens]
        return float(np.mean([log_probs[a, b] for a, b in pairwise(path)]))

    first = log_probs[last_prompt_token]
    sampled = decoding.sampling_probabilities(first, p.temperature, p.top_k, p.top_p)
    shown = np.argsort(-first, kind="stable")[:SHOWN_TOKENS]
    out = DemoOutput(
        metrics={
            "vocabulary": len(words),
            "prompt_words_used": len(prompt),
            "greedy.log_prob_per_token": per_token(greedy),
            "beam.best_score": beam[0][1],
            "beam.log_prob_per_token": per_token(beam[0][0]),
            "samples.log_prob_per_token": float(np.mean([per_token(s) for s in samples])),
            "next_token.nonzero_candidates": int(np.count_nonzero(sampled)),
        },
        series={
            "next_token/probability": np.exp(first[shown]),
            "next_token/sampling_probability": sampled[shown],
        },
    )

    def text(tokens: list[int]) -> str:
        return " ".join(words[t] for t in tokens)

    out.extras = {
        "prompt": text(prompt),
        "greedy": text(greedy),
        "beam": [(text(t), s) for t, s in beam],
        "samples": [text(s) for s in samples],
        "shown": [words[t] for t in shown],
    }
    return out


def cost_decoding(p: DecodingParams) -> float:
    vocabulary = p.vocabulary + 3
    model = 0.35 + 3e-8 * vocabulary * vocabulary
    beam = p.max_len * p.beam_width * vocabulary * 1.2e-6
    sampling = p.n_samples * p.max_len * (6e-5 + 5e-8 * vocabulary)
    return 0.01 + model + beam + sampling


def plot_decoding(p: DecodingParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2, width=5.0)
    ex = out.extras
    lines = [f"prompt: {ex['prompt'] or '(none)'}", "", "greedy:", f"  {ex['greedy']}", "",
             f"beam search (width {p.beam_width}), score:"]  # fmt: skip
    lines += [f"  {score:7.3f}  {text}" for text, score in ex["beam"][:4]]
    lines += ["", f"samples (T={p.temperature:g}, top-k={p.top_k}, top-p={p.top_p}):"]
    lines += [f"  {text}" for text in ex["samples"]]
    _show(plots.axes(fig, 1, 2, 1, ""), lines, "Continuations from a bigram model of the glossary")
    ax = plots.axes(fig, 1, 2, 2, "Next word after the prompt")
    positions = np.arange(len(ex["shown"]))
    ax.barh(positions + 0.2, out.series["next_token/probability"], height=0.4, label="model")
    ax.barh(positions - 0.2, out.series["next_token/sampling_probability"], height=0.4,
            label="sampled from (after the filters)")  # fmt: skip
    ax.set_yticks(positions, ex["shown"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("probability")
    plots.legend(ax)
    return fig


DECODING = Demo(
    slug="beam-search",
    title="Greedy, beam and sampled continuations from a bigram model of the glossary",
    terms=(
        "beam-search",
        "greedy-decoding",
        "temperature-sampling",
        "top-k-sampling",
        "top-p-sampling",
    ),
    description=(
        "Builds a word bigram language model (add-alpha smoothed counts) from the sentences of "
        "this glossary's own entries and continues a prompt four ways: greedy decoding, beam "
        "search with a length penalty, and sampling after temperature, top-k and top-p "
        "(nucleus) filtering. A bigram model forgets everything but the last word, so greedy "
        "text soon loops; beam search finds more probable sequences (often short ones); "
        "sampling trades probability for variety, and the bar chart shows how the filters "
        "reshape the next-word distribution."
    ),
    params=DecodingParams,
    run=run_decoding,
    plot=plot_decoding,
    sources=(
        Source("reference.decoding", "beam_search", "beam-search"),
        Source("reference.decoding", "greedy_decode", "greedy-decoding"),
        Source("reference.decoding", "apply_temperature", "temperature-sampling"),
        Source("reference.decoding", "top_k_filter", "top-k-sampling"),
        Source("reference.decoding", "top_p_filter", "top-p-sampling"),
        Source("reference.decoding", "sampling_probabilities", "temperature-sampling"),
    ),
    cost=cost_decoding,
    cost_drivers=("beam_width", "max_len", "vocabulary", "n_samples"),
)


# --- byte-pair encoding -------------------------------------------------------------------------

CHECKPOINTS = 6
SHOWN_MERGES = 24
HELD_OUT_EVERY = 5


class BPEParams(DemoParams):
    num_merges: int = param(200, "Merges to learn.", unit="merges", ge=0, le=3_000)


def _word_counts(summaries: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for summary in summaries:
        for word in _words(summary):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _tokens_per_word(counts: dict[str, int], merges: list[tuple[str, str]]) -> float:
    tokens = sum(n * len(tokenization.bpe_encode(w, merges)) for w, n in counts.items())
    return tokens / sum(counts.values())


def run_bpe(p: BPEParams) -> DemoOutput:
    summaries = [summary for summary, _ in glossary()]
    train = _word_counts([s for i, s in enumerate(summaries) if i % HELD_OUT_EVERY])
    held_out = _word_counts(summaries[::HELD_OUT_EVERY])
    merges = tokenization.bpe_train(train, p.num_merges)
    marks = np.unique(np.linspace(0, len(merges), CHECKPOINTS + 1).round().astype(int))
    curves = {
        name: np.column_stack([marks, [_tokens_per_word(counts, merges[:k]) for k in marks]])
        for name, counts in (("train", train), ("held_out", held_out))
    }
    unseen = sum(n for w, n in held_out.items() if w not in train) / sum(held_out.values())
    symbols = {s for word in train for s in (*word, tokenization.END_OF_WORD)}
    return DemoOutput(
        metrics={
            "merges_learned": len(merges),
            "vocabulary_size": len(symbols) + len(merges),
            "train.tokens_per_word": float(curves["train"][-1, 1]),
            "held_out.tokens_per_word": float(curves["held_out"][-1, 1]),
            "held_out.unseen_word_fraction": unseen,
            "train.distinct_words": len(train),
        },
        series={f"tokens_per_word/{name}": curve for name, curve in curves.items()},
        extras={"merges": merges[:SHOWN_MERGES], "example": _example(merges)},
    )


def _example(merges: list[tuple[str, str]]) -> list[str]:
    return [
        f"{word}: {' '.join(tokenization.bpe_encode(word, merges))}"
        for word in ("learning", "regularization", "backpropagation", "transformers", "tokenizer")
    ]


def cost_bpe(p: BPEParams) -> float:
    encode_all = 0.03 + 2e-4 * min(p.num_merges, 400)  # merges beyond a few hundred rarely apply
    return 0.05 + 1e-3 * p.num_merges + (CHECKPOINTS + 1) * encode_all


def plot_bpe(p: BPEParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2, width=4.6)
    ax = plots.axes(fig, 1, 2, 1, "Tokens per word as merges grow")
    plots.curve(ax, out.series["tokens_per_word/train"], "training summaries")
    plots.curve(ax, out.series["tokens_per_word/held_out"], "held-out summaries (1 in 5)")
    ax.set_xlabel("merges")
    plots.legend(ax)
    merges = out.extras["merges"]
    lines = [f"{i + 1:3d}. {a} + {b}" for i, (a, b) in enumerate(merges[:12])]
    lines = [f"{left:<28}{right}" for left, right in zip(
        lines, [f"{i + 13:3d}. {a} + {b}" for i, (a, b) in enumerate(merges[12:24])] + [""] * 12,
        strict=False)]  # fmt: skip
    lines += ["", "Words encoded with every merge:", *out.extras["example"]]
    _show(plots.axes(fig, 1, 2, 2, ""), lines, "The first merges")
    return fig


BPE = Demo(
    slug="byte-pair-encoding",
    title="Byte-pair encoding learned from the glossary",
    terms=("byte-pair-encoding",),
    description=(
        "Learns byte-pair encoding merges (Sennrich et al., 2016) from the words of four in "
        "five of this glossary's summaries and measures tokens per word on them and on the "
        "held-out fifth as merges grow. The first merges join frequent endings to the "
        "end-of-word symbol and frequent letter pairs; later ones build whole common words. "
        "Words the merges never saw still split into known pieces, so held-out text costs "
        "about as many tokens per word as the training text."
    ),
    params=BPEParams,
    run=run_bpe,
    plot=plot_bpe,
    sources=(
        Source("reference.tokenization", "bpe_train", "byte-pair-encoding"),
        Source("reference.tokenization", "bpe_encode", "byte-pair-encoding"),
    ),
    cost=cost_bpe,
    cost_drivers=("num_merges",),
)
