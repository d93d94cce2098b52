"""Decoding a language model: greedy search, beam search, temperature, top-k and top-p sampling.

Papers:

* Beam search: the form used for neural sequence models in I. Sutskever, O. Vinyals, Q. V. Le,
  2014, "Sequence to Sequence Learning with Neural Networks", NeurIPS, arXiv:1409.3215; the
  length penalty as the division by |y|^alpha of Y. Wu et al., 2016, "Google's Neural Machine
  Translation System", arXiv:1609.08144 (here the plain power, as Hugging Face ``transformers``).
* Temperature: D. H. Ackley, G. E. Hinton, T. J. Sejnowski, 1985, "A Learning Algorithm for
  Boltzmann Machines", Cognitive Science 9(1), 147-169, doi:10.1207/s15516709cog0901_7.
* Top-k sampling: A. Fan, M. Lewis, Y. Dauphin, 2018, "Hierarchical Neural Story Generation",
  ACL, arXiv:1805.04833.
* Top-p (nucleus) sampling: A. Holtzman, J. Buys, L. Du, M. Forbes, Y. Choi, 2020, "The Curious
  Case of Neural Text Degeneration", ICLR, arXiv:1904.09751.

A model is ``step(prefix) -> log p(. | prefix)``, a 1-D array over the vocabulary; a prefix starts
with ``bos``.  For generated tokens y_1..y_n (``eos`` included when it ends them):

* greedy: y_i = argmax_v log p(v | bos, y_<i) (ties to the lowest token id).
* beam search keeps the ``beam_width`` best hypotheses by
  score(y) = (sum_i log p(y_i | bos, y_<i)) / n^length_penalty;
  each round every unfinished hypothesis is extended by every token, finished ones (ending at
  ``eos`` or at ``max_len`` tokens) compete unchanged, and the search ends when every kept
  hypothesis is finished.  Ties keep the order of the candidates (an earlier hypothesis, then a
  lower token id, first).
* temperature tau: softmax(z / tau).
* top-k: z_v stays if fewer than k logits exceed it (the k largest, and any tied with the k-th, as
  ``transformers``' TopKLogitsWarper); the others become -inf.
* top-p: sort p = softmax(z) in decreasing order; keep the shortest head whose sum is at least p
  (so the token that crosses p is kept), and at least ``min_tokens_to_keep`` tokens.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "apply_temperature",
    "beam_search",
    "greedy_decode",
    "sample_next",
    "sampling_probabilities",
    "top_k_filter",
    "top_p_filter",
]

FloatArray = NDArray[np.floating[Any]]
Step = Callable[[list[int]], ArrayLike]


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _log_probs(step: Step, prefix: list[int], eos: int) -> FloatArray:
    out = np.asarray(step(prefix), dtype=np.float64)
    if out.ndim != 1 or not 0 <= eos < out.size:
        raise ValueError(
            f"step must return 1-D log-probabilities over a vocabulary holding eos={eos}, "
            f"got shape {out.shape}"
        )
    return out


def greedy_decode(step: Step, bos: int, eos: int, max_len: int) -> list[int]:
    """The most probable token at each position, until ``eos`` or ``max_len`` tokens."""
    max_len = _positive_int(max_len, "max_len")
    tokens: list[int] = []
    while len(tokens) < max_len:
        token = int(np.argmax(_log_probs(step, [bos, *tokens], eos)))
        tokens.append(token)
        if token == eos:
            break
    return tokens


def beam_search(
    step: Step, bos: int, eos: int, beam_width: int, max_len: int, length_penalty: float = 1.0
) -> list[tuple[list[int], float]]:
    """The final beam, best first: (generated tokens, length-normalised log-probability)."""
    beam_width = _positive_int(beam_width, "beam_width")
    max_len = _positive_int(max_len, "max_len")
    if not math.isfinite(length_penalty):
        raise ValueError(f"length_penalty must be finite, got {length_penalty}")

    def finished(tokens: list[int]) -> bool:
        return tokens[-1] == eos or len(tokens) >= max_len

    # Each hypothesis: (tokens, sum of log-probabilities).
    beam: list[tuple[list[int], float]] = [([], 0.0)]
    while not all(tokens and finished(tokens) for tokens, _ in beam):
        candidates: list[tuple[list[int], float]] = []
        for tokens, total in beam:
            if tokens and finished(tokens):
                candidates.append((tokens, total))
                continue
            log_probs = _log_probs(step, [bos, *tokens], eos)
            candidates += [
                ([*tokens, v], total + float(lp))
                for v, lp in enumerate(log_probs)
                if lp > -math.inf
            ]
        scores = np.array([total / len(t) ** length_penalty for t, total in candidates])
        order = np.argsort(-scores, kind="stable")[:beam_width]
        beam = [candidates[i] for i in order]
    return [(tokens, total / len(tokens) ** length_penalty) for tokens, total in beam]


def _logits(logits: ArrayLike) -> FloatArray:
    z = np.asarray(logits)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    if z.ndim < 1 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty last (vocabulary) axis, got {z.shape}")
    out: FloatArray = z
    return out


def apply_temperature(logits: ArrayLike, temperature: float) -> FloatArray:
    """logits / temperature (a temperature near 0 may overflow the largest to +inf)."""
    z = _logits(logits)
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    with np.errstate(over="ignore"):
        out: FloatArray = z / z.dtype.type(temperature)
    return out


def top_k_filter(logits: ArrayLike, k: int) -> FloatArray:
    """The k largest logits along the last axis (and any tied with the k-th); -inf elsewhere."""
    z = _logits(logits)
    k = _positive_int(k, "k")
    if k >= z.shape[-1]:
        return z.copy()
    kth = np.partition(z, -k, axis=-1)[..., -k, None]
    out: FloatArray = np.where(z < kth, z.dtype.type(-np.inf), z)
    return out


def _softmax(z: FloatArray) -> FloatArray:
    """softmax along the last axis; where logits reach +inf (a temperature near 0 overflows
    them), the limit: uniform over the +inf entries."""
    top = np.max(z, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        e = np.where(np.isposinf(top), np.isposinf(z), np.exp(z - top))
    out: FloatArray = e / e.sum(axis=-1, keepdims=True)
    return out


def top_p_filter(logits: ArrayLike, p: float, min_tokens_to_keep: int = 1) -> FloatArray:
    """Nucleus filter: the most probable tokens whose probabilities first sum to >= p stay."""
    z = _logits(logits)
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p}")
    min_tokens_to_keep = _positive_int(min_tokens_to_keep, "min_tokens_to_keep")
    order = np.argsort(-z, axis=-1, kind="stable")
    sorted_probs = np.take_along_axis(_softmax(z.astype(np.float64)), order, axis=-1)
    before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass of the more probable tokens
    keep_sorted = before < p
    keep_sorted[..., :min_tokens_to_keep] = True
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    out: FloatArray = np.where(keep, z, z.dtype.type(-np.inf))
    return out


def sample_next(
    logits: ArrayLike,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> int:
    """A token drawn from :func:`sampling_probabilities`."""
    z = np.asarray(logits)
    if z.ndim != 1:
        raise ValueError(f"logits must be 1-D (one distribution), got shape {z.shape}")
    probs = sampling_probabilities(z, temperature, top_k, top_p)
    return int(rng.choice(probs.size, p=probs))


def sampling_probabilities(
    logits: ArrayLike,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> FloatArray:
    """softmax of the logits after temperature, then top-k, then top-p (float64)."""
    z = _logits(logits)
    # Every step is unchanged by a shift of the logits; shifting the largest to 0 first keeps
    # z / temperature from overflowing as the temperature goes to 0 (the limit is greedy).
    with np.errstate(invalid="ignore"):
        z = apply_temperature(z - np.max(z, axis=-1, keepdims=True), temperature)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    return _softmax(z.astype(np.float64))
