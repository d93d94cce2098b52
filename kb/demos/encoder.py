"""The sentence encoder (``reference.bert``, all-MiniLM-L6-v2 in NumPy): the cosine similarity
of a few sentences' embeddings, and their WordPiece tokens.

Unlike the other demos this one needs files the package does not ship: the encoder's weights,
vocabulary and configuration, which ``kb model fetch`` puts in ``KB_MODEL_DIR`` (the setting
semantic search uses). The worker process reads that setting from the environment it inherits
from the server. Without the files a run raises ``ModelMissing`` (the API answers 503 before
starting one: ``Demo.needs_model``).
"""

import re
import textwrap
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import model_validator

from kb import encoder_files
from kb.config import Settings
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param
from reference.bert import BertEncoder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIN_SENTENCES, MAX_SENTENCES = 2, 8
MAX_SENTENCE_CHARS = 200
MAX_TEXT_CHARS = 1_200
LABEL = textwrap.TextWrapper(60, max_lines=1, placeholder=" …")
TOKENS = textwrap.TextWrapper(60, initial_indent="   ", subsequent_indent="   ", max_lines=2,
                              placeholder=" …")  # fmt: skip
"""How the plot lists each sentence and its tokens (cut to fit eight of each)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

DEFAULT_TEXT = (
    "A cat sits on the mat. A kitten is resting on the rug. "
    "The stock market fell sharply today. Shares dropped steeply in trading. "
    "Gradient descent minimises a loss function. An optimiser lowers the training error step "
    "by step."
)


class ModelMissing(Exception):
    """The sentence encoder's files are not in the model directory."""


def model_missing_message(model_dir: Path) -> str:
    return (
        f"this demo needs the sentence encoder's files (all-MiniLM-L6-v2) in {model_dir} "
        "(KB_MODEL_DIR), and they are not there: run `kb model fetch` on the server"
    )


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``: split after . ! or ? followed by white space, and at line
    breaks; empty pieces dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


class EmbeddingParams(DemoParams):
    text: str = param(
        DEFAULT_TEXT,
        f"{MIN_SENTENCES} to {MAX_SENTENCES} sentences, each ended by . ! or ? (or on a line of "
        f"its own), each at most {MAX_SENTENCE_CHARS} characters. The default is three pairs of "
        "paraphrases on unrelated topics.",
        max_length=MAX_TEXT_CHARS,
    )

    @model_validator(mode="after")
    def _sentences_fit(self) -> "EmbeddingParams":
        sentences = split_sentences(self.text)
        if not MIN_SENTENCES <= len(sentences) <= MAX_SENTENCES:
            raise ValueError(
                f"text must hold {MIN_SENTENCES} to {MAX_SENTENCES} sentences (ended by . ! or ?"
                f" and a space, or one per line), found {len(sentences)}"
            )
        long = [i + 1 for i, s in enumerate(sentences) if len(s) > MAX_SENTENCE_CHARS]
        if long:
            raise ValueError(
                f"text: sentences {long} are longer than {MAX_SENTENCE_CHARS} characters"
            )
        return self


def model_dir() -> Path:
    """Where the server looks for the encoder (``KB_MODEL_DIR``, else the default cache)."""
    return Settings().model_dir


@cache
def load_encoder(directory: Path) -> BertEncoder:
    """The float32 encoder in ``directory`` (kept: the fork server may load it once for all
    workers)."""
    if not encoder_files.is_present(directory):
        raise ModelMissing(model_missing_message(directory))
    return BertEncoder.from_dir(directory)


def run_embedding(p: EmbeddingParams) -> DemoOutput:
    encoder = load_encoder(model_dir())
    sentences = split_sentences(p.text)
    tokens = [encoder.tokenizer.tokenize(s) for s in sentences]
    vectors = encoder.embed(sentences)
    similarity = np.clip(vectors.astype(np.float64) @ vectors.T.astype(np.float64), -1.0, 1.0)
    n = len(sentences)
    others = similarity - 2.0 * np.eye(n)  # the diagonal (1) never wins
    nearest = others.argmax(axis=1)
    upper = np.triu_indices(n, k=1)
    best, worst = np.argmax(similarity[upper]), np.argmin(similarity[upper])
    metrics: dict[str, float | int | bool | None] = {
        "sentences": n,
        "dimensions": int(vectors.shape[1]),
        "tokens.total": sum(len(t) for t in tokens),
        "similarity.mean_off_diagonal": float(similarity[upper].mean()),
        "most_similar.first": int(upper[0][best]) + 1,
        "most_similar.second": int(upper[1][best]) + 1,
        "most_similar.cosine": float(similarity[upper][best]),
        "least_similar.first": int(upper[0][worst]) + 1,
        "least_similar.second": int(upper[1][worst]) + 1,
        "least_similar.cosine": float(similarity[upper][worst]),
    }
    series = {f"similarity/{i + 1}": similarity[i] for i in range(n)}
    series["tokens"] = np.array([len(t) for t in tokens], dtype=np.float64)
    series["nearest"] = (nearest + 1).astype(np.float64)
    return DemoOutput(
        metrics=metrics,
        series=series,
        extras={"sentences": sentences, "tokens": tokens, "similarity": similarity},
    )


def cost_embedding(p: EmbeddingParams) -> float:
    """Loading the model (reading 90 MB, transposing the weights), then about 0.35 ms per token
    (at most one per character; attention's quadratic part is small at these lengths)."""
    return 0.35 + 3.5e-4 * (len(p.text) + 2 * MAX_SENTENCES)


def plot_embedding(p: EmbeddingParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    sentences, tokens = out.extras["sentences"], out.extras["tokens"]
    similarity = out.extras["similarity"]
    n = len(sentences)
    fig = plots.figure(2, width=4.4, height=4.0)
    ax = plots.axes(fig, 1, 2, 1, "Cosine similarity of the sentence embeddings")
    image = ax.imshow(similarity, cmap="viridis", vmin=min(0.0, float(similarity.min())), vmax=1.0)
    for i in range(n):
        for j in range(n):
            colour = "black" if similarity[i, j] > 0.6 else "white"
            ax.text(j, i, f"{similarity[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color=colour)  # fmt: skip
    numbers = [str(i + 1) for i in range(n)]
    ax.set_xticks(range(n), numbers)
    ax.set_yticks(range(n), numbers)
    ax.set_xlabel("sentence")
    ax.grid(False)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    panel = plots.axes(fig, 1, 2, 2, "Sentences and their WordPiece tokens")
    panel.axis("off")
    lines = []
    for i, (sentence, pieces) in enumerate(zip(sentences, tokens, strict=True)):
        lines += LABEL.wrap(f"{i + 1}. {sentence}")
        lines += TOKENS.wrap(f"({len(pieces)} tokens) {' '.join(pieces)}")
    panel.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace",
               fontsize=6.5, transform=panel.transAxes)  # fmt: skip
    return fig


SENTENCE_EMBEDDING = Demo(
    slug="sentence-embedding",
    title="Sentence embeddings from a BERT encoder (all-MiniLM-L6-v2) and their cosine similarity",
    terms=("sentence-embedding", "bert", "transformer", "cosine-similarity", "wordpiece"),
    description=(
        "Splits the text into sentences, cuts each into WordPiece tokens and runs them through "
        "all-MiniLM-L6-v2 (a six-layer BERT encoder distilled from a larger one and fine-tuned "
        "on sentence pairs), implemented in NumPy: token embeddings, six post-LN Transformer "
        "layers of multi-head self-attention and a GELU feed-forward network, then the mean "
        "of the last hidden states, scaled to unit length. The heat map is the cosine "
        "similarity of every pair: paraphrases that share few words (a cat on a mat, a kitten "
        "on a rug) score far higher than sentences on unrelated topics, which score near zero. "
        "Needs the model's files on the server (`kb model fetch`)."
    ),
    params=EmbeddingParams,
    run=run_embedding,
    plot=plot_embedding,
    sources=(
        Source("reference.bert", "BertEncoder.embed", "sentence-embedding"),
        Source("reference.bert", "BertEncoder.forward", "bert"),
        Source("reference.wordpiece", "WordPieceTokenizer.tokenize", "wordpiece"),
        Source("reference.wordpiece", "WordPieceTokenizer._split_word", "wordpiece"),
    ),
    cost=cost_embedding,
    cost_drivers=("text",),
    needs_model=True,
)
