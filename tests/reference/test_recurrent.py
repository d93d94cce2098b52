"""reference.recurrent (RNN, LSTM, GRU) against torch.nn.RNN / LSTM / GRU, in float64."""

from typing import Any

import numpy as np
import pytest
import torch
from _helpers import FD_TOL, fd_errors, t64
from _torch import assert_close_to_torch, strict_errstate, to_numpy

from reference.recurrent import GRU, LSTM, RNN

TOL = 1e-10
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def make(
    kind: str, input_size: int, hidden: int, bias: bool, seed: int = 0
) -> tuple[Any, torch.nn.RNNBase]:
    """Our layer and torch's, with the same random weights."""
    torch.manual_seed(seed)
    if kind == "lstm":
        theirs: torch.nn.RNNBase = torch.nn.LSTM(input_size, hidden, bias=bias, dtype=torch.float64)
    elif kind == "gru":
        theirs = torch.nn.GRU(input_size, hidden, bias=bias, dtype=torch.float64)
    else:
        theirs = torch.nn.RNN(
            input_size, hidden, bias=bias, nonlinearity=kind[4:], dtype=torch.float64
        )
    with torch.no_grad():  # larger than torch's init, so the gates leave their linear range
        for p in theirs.parameters():
            p.mul_(3.0)
    weights = [to_numpy(getattr(theirs, name)) for name in ("weight_ih_l0", "weight_hh_l0")]
    biases = [to_numpy(getattr(theirs, n)) if bias else None for n in ("bias_ih_l0", "bias_hh_l0")]
    if kind == "lstm":
        return LSTM(*weights, *biases), theirs
    if kind == "gru":
        return GRU(*weights, *biases), theirs
    return RNN(*weights, *biases, nonlinearity=kind[4:]), theirs  # type: ignore[arg-type]


def compare(kind: str, t_len: int, n: int, bias: bool, with_state: bool, last_only: bool) -> None:
    input_size, hidden = 3, 4
    ours, theirs = make(kind, input_size, hidden, bias)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((t_len, n, input_size))
    h0 = rng.standard_normal((n, hidden)) if with_state else None
    c0 = rng.standard_normal((n, hidden)) if with_state else None
    g_out = rng.standard_normal((t_len, n, hidden))
    if last_only:
        g_out[:-1] = 0.0
    g_h = rng.standard_normal((n, hidden))
    g_c = rng.standard_normal((n, hidden))
    tx = t64(x).requires_grad_()
    th0 = t64(np.zeros((n, hidden)) if h0 is None else h0)[None].requires_grad_()
    tc0 = t64(np.zeros((n, hidden)) if c0 is None else c0)[None].requires_grad_()
    with strict_errstate():
        if kind == "lstm":
            y, (h_n, c_n) = ours.forward(x, h0, c0)
            ty, (th_n, tc_n) = theirs(tx, (th0, tc0))
            (ty * t64(g_out)).sum().add((th_n[0] * t64(g_h)).sum()).add(
                (tc_n[0] * t64(g_c)).sum()
            ).backward()
            grads = ours.backward(g_out, g_h, g_c)
            assert_close_to_torch(c_n, to_numpy(tc_n[0]), TOL)
        else:
            y, h_n = ours.forward(x, h0)
            ty, th_n = theirs(tx, th0)
            (ty * t64(g_out)).sum().add((th_n[0] * t64(g_h)).sum()).backward()
            grads = ours.backward(g_out, g_h)
    assert_close_to_torch(y, to_numpy(ty), TOL)
    assert_close_to_torch(h_n, to_numpy(th_n[0]), TOL)
    expected = {"x": tx.grad, "h0": th0.grad[0]}  # type: ignore[index]
    if kind == "lstm":
        expected["c0"] = tc0.grad[0]  # type: ignore[index]
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    for name in names:
        expected[name] = getattr(theirs, f"{name}_l0").grad
    assert set(grads) == set(expected)
    for name, value in expected.items():
        assert grads[name].shape == tuple(value.shape), name
        assert_close_to_torch(grads[name], to_numpy(value), TOL)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("t_len", "n"), [(1, 2), (5, 3), (7, 1)], ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_bptt_match_torch(kind: str, t_len: int, n: int, bias: bool) -> None:
    compare(kind, t_len, n, bias, with_state=True, last_only=False)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_initial_state_and_gradient_at_the_last_step_only(kind: str) -> None:
    compare(kind, 6, 2, True, with_state=False, last_only=True)


@pytest.mark.parametrize("kind", KINDS)
def test_bptt_matches_finite_differences(kind: str) -> None:
    ours, _ = make(kind, 2, 3, True, seed=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 2))
    h0 = rng.standard_normal((2, 3))
    c0 = rng.standard_normal((2, 3))
    g = rng.standard_normal((4, 2, 3))
    g_h = rng.standard_normal((2, 3))
    states = [h0, c0] if kind == "lstm" else [h0]

    def loss() -> float:
        y, last = ours.forward(x, *states)
        h_n = last[0] if kind == "lstm" else last
        return float(np.sum(g * y) + np.sum(g_h * h_n))

    loss()
    grads = ours.backward(g, g_h)
    names = [*["x", "h0", "c0"][: 1 + len(states)], "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    params = [x, *states, ours.weight_ih, ours.weight_hh, ours.bias_ih, ours.bias_hh]
    assert max(fd_errors(loss, params, [grads[k] for k in names])) <= FD_TOL


def test_one_bias_only() -> None:
    ours, theirs = make("gru", 3, 2, True)
    only = GRU(ours.weight_ih, ours.weight_hh, ours.bias_ih, None)
    with torch.no_grad():
        theirs.bias_hh_l0.zero_()
    x = np.random.default_rng(4).standard_normal((3, 2, 3))
    y, _ = only.forward(x)
    assert_close_to_torch(y, to_numpy(theirs(t64(x))[0]), TOL)
    grads = only.backward(np.ones_like(y))
    assert "bias_ih" in grads and "bias_hh" not in grads


def test_float32_keeps_dtype() -> None:
    rng = np.random.default_rng(5)
    for cls in (RNN, LSTM, GRU):
        gates = {RNN: 1, LSTM: 4, GRU: 3}[cls]
        layer = cls(
            *(rng.standard_normal(s).astype(np.float32) for s in [(gates * 4, 3), (gates * 4, 4)])
        )
        y, _ = layer.forward(rng.standard_normal((2, 1, 3)).astype(np.float32))
        assert y.dtype == np.float32
        assert all(v.dtype == np.float32 for v in layer.backward(np.ones_like(y)).values())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: LSTM(np.zeros((8, 3)), np.zeros((8, 3))), "weight_hh"),
        (lambda: LSTM(np.zeros((4, 3)), np.zeros((8, 2)), np.zeros(8)), "weight_ih"),
        (lambda: GRU(np.zeros((6, 3)), np.zeros((6, 2)), np.zeros(5)), "bias_ih"),
        (lambda: GRU(np.zeros((6, 3)), np.zeros((6, 2)), None, np.zeros(5)), "bias_hh"),
        (lambda: RNN(np.zeros((2, 3)), np.zeros((2, 2)), nonlinearity="sigmoid"), "nonlinearity"),  # type: ignore[arg-type]
        (lambda: RNN(np.zeros((2, 3)), np.zeros((2, 2))).forward(np.zeros((2, 1, 2))), "x must"),
        (lambda: RNN(np.zeros((2, 3)), np.zeros((2, 2))).forward(np.zeros((0, 1, 3))), "x must"),
        (
            lambda: RNN(np.zeros((2, 3)), np.zeros((2, 2))).forward(
                np.zeros((2, 1, 3)), np.zeros((2, 2))
            ),
            "h0",
        ),
        (
            lambda: LSTM(np.zeros((8, 3)), np.zeros((8, 2))).forward(
                np.zeros((2, 1, 3)), None, np.zeros(2)
            ),
            "c0",
        ),
    ],
)
def test_bad_arguments_are_named(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_checks_its_arguments() -> None:
    layer = LSTM(np.zeros((8, 3)), np.zeros((8, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 1, 2)))
    layer.forward(np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="grad_output"):
        layer.backward(np.zeros((1, 1, 2)))
    with pytest.raises(ValueError, match="grad_c_n"):
        layer.backward(np.zeros((2, 1, 2)), None, np.zeros((1, 3)))
