"""reference.decoding against independent computations: exhaustive search over every sequence of
a small vocabulary for beam search, the filters' definitions and transformers' formulation of
them in torch, and sampling frequencies checked with a chi-squared test."""

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import stats

from reference import decoding as dec

VOCAB = 4
EOS, BOS = 0, VOCAB  # bos is not in the output vocabulary


def toy_model(seed: int, eos_bias: float = 0.0) -> Callable[[list[int]], np.ndarray]:
    """Log-probabilities that are a fixed random function of the whole prefix."""

    def step(prefix: list[int]) -> np.ndarray:
        assert prefix[0] == BOS
        logits = np.random.default_rng([seed, *prefix]).normal(0.0, 2.0, VOCAB)
        logits[EOS] += eos_bias
        return logits - np.log(np.sum(np.exp(logits)))

    return step


def sequence_log_prob(step: Callable[[list[int]], np.ndarray], tokens: list[int]) -> float:
    return sum(float(step([BOS, *tokens[:i]])[tok]) for i, tok in enumerate(tokens))


def every_sequence(max_len: int) -> list[list[int]]:
    """Every possible output: ends at eos (no eos before), or has max_len tokens without eos."""
    words = [t for t in range(VOCAB) if t != EOS]
    out = []
    for length in range(max_len):
        out += [[*body, EOS] for body in itertools.product(words, repeat=length)]
    out += [list(body) for body in itertools.product(words, repeat=max_len)]
    return out


def exhaustive(step: Callable[[list[int]], np.ndarray], max_len: int, alpha: float):  # type: ignore[no-untyped-def]
    scored = [(s, sequence_log_prob(step, s) / len(s) ** alpha) for s in every_sequence(max_len)]
    return sorted(scored, key=lambda item: -item[1])


MODELS = [(seed, bias) for seed in range(4) for bias in (0.0, 1.5)]


@pytest.mark.parametrize(("seed", "bias"), MODELS)
def test_greedy_takes_the_most_probable_token_each_time(seed: int, bias: float) -> None:
    step = toy_model(seed, bias)
    tokens = dec.greedy_decode(step, BOS, EOS, 5)
    assert 1 <= len(tokens) <= 5 and (tokens[-1] == EOS or len(tokens) == 5)
    assert EOS not in tokens[:-1]
    for i, tok in enumerate(tokens):
        lp = step([BOS, *tokens[:i]])
        assert lp[tok] == lp.max()


@pytest.mark.parametrize(("seed", "bias"), MODELS)
@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_a_full_beam_finds_the_exhaustive_best(seed: int, bias: float, alpha: float) -> None:
    step = toy_model(seed, bias)
    max_len = 3
    everything = exhaustive(step, max_len, alpha)
    beam = dec.beam_search(step, BOS, EOS, len(everything), max_len, alpha)
    assert [t for t, _ in beam] == [t for t, _ in everything]
    np.testing.assert_allclose([s for _, s in beam], [s for _, s in everything], rtol=1e-12)


@pytest.mark.parametrize(("seed", "bias"), MODELS)
def test_a_beam_of_one_is_greedy(seed: int, bias: float) -> None:
    step = toy_model(seed, bias)
    ((tokens, score),) = dec.beam_search(step, BOS, EOS, 1, 6)
    assert tokens == dec.greedy_decode(step, BOS, EOS, 6)
    assert score == pytest.approx(sequence_log_prob(step, tokens) / len(tokens), rel=1e-12)


@pytest.mark.parametrize(("seed", "bias"), MODELS)
@pytest.mark.parametrize("width", [2, 3])
def test_narrow_beams_return_sorted_finished_hypotheses(seed: int, bias: float, width: int) -> None:
    step = toy_model(seed, bias)
    beam = dec.beam_search(step, BOS, EOS, width, 4, 0.7)
    assert len(beam) == width
    scores = [s for _, s in beam]
    assert scores == sorted(scores, reverse=True)
    for tokens, score in beam:
        assert tokens[-1] == EOS or len(tokens) == 4
        assert EOS not in tokens[:-1]
        assert score == pytest.approx(sequence_log_prob(step, tokens) / len(tokens) ** 0.7)
    # Never better than the exhaustive best, and a wider beam is at least as good here.
    assert scores[0] <= exhaustive(step, 4, 0.7)[0][1] + 1e-12


def test_beam_search_beats_greedy_on_a_garden_path() -> None:
    """Token 1 is likeliest first, but every continuation of it is poor; 2 then eos is better."""
    table = {
        (): [-5.0, -0.4, -1.1, -5.0],
        (1,): [-1.1, -1.2, -1.2, -1.2],
        (2,): [-0.01] + [-5.0] * 3,
    }

    def step(prefix: list[int]) -> np.ndarray:
        key = tuple(prefix[1:])
        return np.array(table.get(key, [0.0, -9.0, -9.0, -9.0]))

    assert dec.greedy_decode(step, BOS, EOS, 3) == [1, 0]  # log-probability -1.5
    assert dec.beam_search(step, BOS, EOS, 2, 3, 0.0)[0] == ([2, 0], pytest.approx(-1.11))


# --- filters -------------------------------------------------------------------------------------

LOGITS = [
    np.random.default_rng(seed).normal(0.0, scale, 12) for seed in range(3) for scale in (0.5, 3.0)
]


def hf_top_k(z: np.ndarray, k: int) -> np.ndarray:
    """transformers' TopKLogitsWarper (v5), in torch."""
    t = torch.from_numpy(z)
    kth = torch.topk(t, min(k, t.shape[-1]))[0][..., -1, None]
    return t.masked_fill(t < kth, -math.inf).numpy()


def hf_top_p(z: np.ndarray, p: float, min_keep: int) -> np.ndarray:
    """transformers' TopPLogitsWarper (v5), in torch: drop the least probable tokens while their
    ascending cumulative probability stays at most 1 - p."""
    t = torch.from_numpy(z)[None]
    sorted_logits, sorted_idx = torch.sort(t, descending=False)
    remove = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= 1 - p
    remove[..., -min_keep:] = False
    remove = remove.scatter(1, sorted_idx, remove)
    return t.masked_fill(remove, -math.inf)[0].numpy()


@pytest.mark.parametrize("index", range(len(LOGITS)))
def test_top_k_matches_its_definition_and_transformers(index: int) -> None:
    z = LOGITS[index]
    for k in (1, 3, 11, 12, 50):
        out = dec.top_k_filter(z, k)
        np.testing.assert_array_equal(out, hf_top_k(z, k))
        kept = np.isfinite(out)
        assert kept.sum() == min(k, z.size)
        assert np.all(out[kept] == z[kept])
        if k < z.size:
            assert z[kept].min() > z[~kept].max()
    tied = np.array([1.0, 3.0, 2.0, 2.0, 0.0])
    np.testing.assert_array_equal(dec.top_k_filter(tied, 2), [-np.inf, 3.0, 2.0, 2.0, -np.inf])


@pytest.mark.parametrize("index", range(len(LOGITS)))
def test_top_p_keeps_the_smallest_head_reaching_p(index: int) -> None:
    z = LOGITS[index]
    probs = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    for p, min_keep in itertools.product((0.05, 0.3, 0.5, 0.9, 0.999, 1.0), (1, 3)):
        out = dec.top_p_filter(z, p, min_keep)
        np.testing.assert_array_equal(out, hf_top_p(z, p, min_keep))
        kept = np.isfinite(out)
        assert np.all(out[kept] == z[kept])
        if kept.sum() > min_keep:
            # Enough mass, and minimal: without its least probable token the head falls short.
            assert probs[kept].sum() >= p
            assert probs[kept].sum() - probs[kept].min() < p
        if not kept.all():
            assert probs[kept].min() >= probs[~kept].max()
        assert kept.sum() >= min_keep


def test_top_p_hand_worked() -> None:
    z = np.log(np.array([0.1, 0.5, 0.15, 0.25]))
    np.testing.assert_array_equal(np.isfinite(dec.top_p_filter(z, 0.5)), [0, 1, 0, 0])
    np.testing.assert_array_equal(np.isfinite(dec.top_p_filter(z, 0.6)), [0, 1, 0, 1])
    np.testing.assert_array_equal(np.isfinite(dec.top_p_filter(z, 0.76)), [0, 1, 1, 1])


def test_filters_work_along_the_last_axis_and_keep_dtype() -> None:
    z = np.stack(LOGITS[:3]).astype(np.float32)
    for out in (dec.top_k_filter(z, 3), dec.top_p_filter(z, 0.8), dec.apply_temperature(z, 0.7)):
        assert out.dtype == np.float32 and out.shape == z.shape
    np.testing.assert_array_equal(dec.top_k_filter(z, 3)[1], dec.top_k_filter(z[1], 3))
    np.testing.assert_array_equal(dec.top_p_filter(z, 0.8)[2], dec.top_p_filter(z[2], 0.8))
    np.testing.assert_allclose(dec.apply_temperature(z, 0.5), 2 * z)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, None, None), (0.5, None, None), (2.0, 4, None), (1.0, None, 0.7), (0.8, 5, 0.9)],
)
def test_sample_frequencies_follow_the_filtered_distribution(
    temperature: float, top_k: int | None, top_p: float | None
) -> None:
    z = np.random.default_rng(11).normal(0.0, 1.5, 8)
    expected_logits = z / temperature
    if top_k is not None:
        expected_logits = hf_top_k(expected_logits, top_k)
    if top_p is not None:
        expected_logits = hf_top_p(expected_logits, top_p, 1)
    probs = np.exp(expected_logits - expected_logits.max())
    probs /= probs.sum()
    np.testing.assert_allclose(
        dec.sampling_probabilities(z, temperature, top_k, top_p), probs, rtol=1e-12, atol=1e-300
    )
    rng = np.random.default_rng(0)
    n = 6_000
    counts = np.bincount(
        [dec.sample_next(z, rng, temperature, top_k, top_p) for _ in range(n)], minlength=8
    )
    assert np.all(counts[probs == 0] == 0)
    support = probs > 0
    if support.sum() > 1:
        assert stats.chisquare(counts[support], n * probs[support]).pvalue > 1e-3
    # The test can tell distributions apart: the plain softmax is rejected when it differs.
    if top_k is not None or top_p is not None or temperature != 1.0:
        plain = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        assert stats.chisquare(counts, n * plain).pvalue < 1e-6


def test_a_temperature_near_zero_is_greedy() -> None:
    z = np.array([1.0, 3.0, -2.0, 3.0 - 1e-2, 0.5])
    for temperature in (1e-5, 1e-300, 5e-324):
        probs = dec.sampling_probabilities(z, temperature, top_p=0.9)
        assert probs[1] == pytest.approx(1.0) and np.all(np.isfinite(probs))
        assert dec.sample_next(z, np.random.default_rng(0), temperature, 2, 0.5) == 1
    tied = dec.sampling_probabilities(np.array([2.0, 0.0, 2.0]), 1e-320)
    np.testing.assert_array_equal(tied, [0.5, 0.0, 0.5])


# --- bad input -----------------------------------------------------------------------------------

STEP = toy_model(0)
RNG = np.random.default_rng(0)
BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: dec.greedy_decode(STEP, BOS, EOS, 0), "max_len"),
    (lambda: dec.greedy_decode(lambda _p: np.zeros((2, 2)), BOS, EOS, 2), "step"),
    (lambda: dec.greedy_decode(STEP, BOS, 9, 2), "step"),
    (lambda: dec.beam_search(STEP, BOS, EOS, 0, 2), "beam_width"),
    (lambda: dec.beam_search(STEP, BOS, EOS, 2, 2, math.nan), "length_penalty"),
    (lambda: dec.apply_temperature(np.zeros(3), 0.0), "temperature"),
    (lambda: dec.top_k_filter(np.zeros(3), 0), "k"),
    (lambda: dec.top_k_filter(np.zeros(0), 1), "logits"),
    (lambda: dec.top_p_filter(np.zeros(3), 0.0), "p"),
    (lambda: dec.top_p_filter(np.zeros(3), 0.5, 0), "min_tokens_to_keep"),
    (lambda: dec.sample_next(np.zeros((2, 3)), RNG), "logits"),
]


@pytest.mark.parametrize(("call", "name"), BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_arguments_are_named(call: Callable[[], object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
