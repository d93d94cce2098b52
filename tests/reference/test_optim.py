"""reference.optim against torch.optim (single-tensor path) in float64."""

import copy
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from _torch import FloatArray, assert_close_to_torch, to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import optim

STEPS = 120
# 0-d to 3-d parameters; with the small blocks below most of them span several blocks.
SHAPES: list[tuple[int, ...]] = [(4, 3), (5,), (), (2, 3, 2), (17, 9)]

OptionSet = dict[str, Any]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 5 float64 (10 float32) elements, so the blocking and its ragged last block are
    exercised on small arrays; test_block_size_does_not_change_results covers the default."""
    monkeypatch.setattr(optim, "_BLOCK_BYTES", 40)


def product(**options: list[Any]) -> list[OptionSet]:
    names = list(options)
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*options.values())
    ]


def _sgd_options() -> list[OptionSet]:
    combos = product(
        momentum=[0.0, 0.9],
        dampening=[0.0, 0.3],
        nesterov=[False, True],
        weight_decay=[0.0, 0.1],
        maximize=[False, True],
    )
    valid = [c for c in combos if not c["nesterov"] or (c["momentum"] > 0 and c["dampening"] == 0)]
    return [{"lr": 0.05, **c} for c in valid]


def _adam_options() -> list[OptionSet]:
    return product(
        lr=[0.05],
        betas=[(0.9, 0.999), (0.3, 0.6)],  # 1 - beta1 = 0.7 exercises lerp's second branch
        weight_decay=[0.0, 0.1],
        amsgrad=[False, True],
        maximize=[False, True],
    )


CASES: list[tuple[str, OptionSet]] = [
    *[("SGD", o) for o in _sgd_options()],
    *[
        ("Adagrad", {"lr": 0.1, **o})
        for o in product(
            lr_decay=[0.0, 0.01],
            weight_decay=[0.0, 0.1],
            initial_accumulator_value=[0.0, 0.5],
            maximize=[False, True],
        )
    ],
    *[
        ("RMSprop", {"lr": 0.01, **o})
        for o in product(
            alpha=[0.99, 0.3],
            momentum=[0.0, 0.9],
            centered=[False, True],
            weight_decay=[0.0, 0.1],
            maximize=[False, True],
        )
    ],
    *[("Adam", o) for o in _adam_options()],
    *[("AdamW", o) for o in _adam_options()],
    *[("Adam", {**o, "decoupled_weight_decay": True}) for o in _adam_options()],
]


def case_id(case: tuple[str, OptionSet]) -> str:
    name, options = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in options.items())


def make_pair(
    name: str, params: Sequence[FloatArray], options: OptionSet
) -> tuple[optim.Optimizer, torch.optim.Optimizer, list[torch.Tensor]]:
    ours: optim.Optimizer = getattr(optim, name)(params, **options)
    tensors = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    theirs: torch.optim.Optimizer = getattr(torch.optim, name)(tensors, foreach=False, **options)
    return ours, theirs, tensors


def torch_step(opt: torch.optim.Optimizer, tensors: list[torch.Tensor], grads: list[Any]) -> None:
    for t, g in zip(tensors, grads, strict=True):
        t.grad = torch.tensor(np.array(g))
    opt.step()


def random_params(rng: np.random.Generator, dtype: Any = np.float64) -> list[FloatArray]:
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def gradient_sequence(seed: int, steps: int = STEPS) -> Iterator[list[FloatArray]]:
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield [rng.standard_normal(shape) for shape in SHAPES]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_open_loop_matches_torch(case: tuple[str, OptionSet]) -> None:
    """The same random gradient sequence fed to both sides for STEPS steps."""
    name, options = case
    params = random_params(np.random.default_rng(0))
    ours, theirs, tensors = make_pair(name, params, options)
    for grads in gradient_sequence(1):
        ours.step(grads)
        torch_step(theirs, tensors, grads)
        for p, t in zip(params, tensors, strict=True):
            assert_close_to_torch(p, to_numpy(t))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_closed_loop_quadratic_matches_torch(case: tuple[str, OptionSet]) -> None:
    """Noisy gradients of f(theta) = 1/2 sum a * theta^2 - b * theta, each side at its own theta.

    With ``maximize`` the objective is negated, so both directions converge.
    """
    name, options = case
    rng = np.random.default_rng(2)
    params = random_params(rng)
    curvature = [rng.uniform(0.5, 2.0, shape) for shape in SHAPES]
    target = [rng.standard_normal(shape) for shape in SHAPES]
    sign = -1.0 if options.get("maximize", False) else 1.0

    def gradient(theta: FloatArray, a: FloatArray, b: FloatArray, noise: FloatArray) -> FloatArray:
        grad: FloatArray = sign * (a * theta - b) + 0.1 * noise
        return grad

    ours, theirs, tensors = make_pair(name, params, options)
    for noise in gradient_sequence(3):
        ours.step([gradient(*args) for args in zip(params, curvature, target, noise, strict=True)])
        torch_grads = [
            gradient(to_numpy(t), *args)
            for t, args in zip(tensors, zip(curvature, target, noise, strict=True), strict=True)
        ]
        torch_step(theirs, tensors, torch_grads)
    for p, t in zip(params, tensors, strict=True):
        assert_close_to_torch(p, to_numpy(t))


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_defaults_match_torch(name: str) -> None:
    params = random_params(np.random.default_rng(4))
    ours, theirs, tensors = make_pair(name, params, {})
    torch_defaults = {k: v for k, v in theirs.defaults.items() if k in ours.hyperparameter_names}
    ours_defaults = ours.state_dict()["hyperparameters"]
    assert set(ours.hyperparameter_names) <= set(theirs.defaults)
    assert ours_defaults == torch_defaults
    for grads in gradient_sequence(5, steps=10):
        ours.step(grads)
        torch_step(theirs, tensors, grads)
    for p, t in zip(params, tensors, strict=True):
        assert_close_to_torch(p, to_numpy(t))


@pytest.mark.parametrize("case", CASES[::7], ids=case_id)
def test_float32_in_place_and_dtype_kept(case: tuple[str, OptionSet]) -> None:
    name, options = case
    params = random_params(np.random.default_rng(6), np.float32)
    originals = [(id(p), p.ctypes.data) for p in params]
    ours, theirs, tensors = make_pair(name, params, options)
    for grads in gradient_sequence(7, steps=20):
        grads32 = [g.astype(np.float32) for g in grads]
        ours.step(grads32)
        torch_step(theirs, tensors, grads32)
    assert [(id(p), p.ctypes.data) for p in ours.params] == originals
    for p, t in zip(params, tensors, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p, to_numpy(t), rtol=1e-4, atol=1e-5)
    for state in ours.state_dict()["state"]:
        for value in state.values():
            assert not isinstance(value, np.ndarray) or value.dtype == np.float32


@pytest.mark.parametrize("case", CASES[::5], ids=case_id)
def test_block_size_does_not_change_results(
    case: tuple[str, OptionSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, options = case
    rng = np.random.default_rng(13)
    shapes = [(300, 250), (7,)]  # 75000 elements: three default-sized float64 blocks
    small_blocks = [rng.standard_normal(s) for s in shapes]
    default_blocks = [p.copy() for p in small_blocks]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(3)]
    for block_bytes, params in ((40, small_blocks), (1 << 18, default_blocks)):
        monkeypatch.setattr(optim, "_BLOCK_BYTES", block_bytes)
        opt: optim.Optimizer = getattr(optim, name)(params, **options)
        for g in grads:
            opt.step(g)
    for small, default in zip(small_blocks, default_blocks, strict=True):
        np.testing.assert_array_equal(small, default)


def test_non_contiguous_parameter_updated_in_place() -> None:
    rng = np.random.default_rng(8)
    base = rng.standard_normal((6, 8))
    view = base[::2, ::2]  # a strided view into base
    expected = view.copy()
    grad = rng.standard_normal(view.shape)
    optim.SGD([view], lr=0.5).step([grad])
    optim.SGD([expected], lr=0.5).step([grad])
    np.testing.assert_array_equal(base[::2, ::2], expected)
    assert np.shares_memory(view, base)


def test_grads_are_not_modified() -> None:
    rng = np.random.default_rng(9)
    params = random_params(rng)
    grads = [rng.standard_normal(p.shape) for p in params]
    saved = [g.copy() for g in grads]
    for name, options in CASES:
        opt = getattr(optim, name)([p.copy() for p in params], **options)
        opt.step(grads)
        opt.step(grads)
        for g, s in zip(grads, saved, strict=True):
            np.testing.assert_array_equal(g, s)


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_state_dict_round_trip(case: tuple[str, OptionSet]) -> None:
    name, options = case
    grads = list(gradient_sequence(10, steps=40))
    params = random_params(np.random.default_rng(11))
    uninterrupted: optim.Optimizer = getattr(optim, name)([p.copy() for p in params], **options)
    for g in grads:
        uninterrupted.step(g)

    first: optim.Optimizer = getattr(optim, name)(params, **options)
    for g in grads[:20]:
        first.step(g)
    saved = first.state_dict()
    # The saved state holds copies: further steps on `first` must not change it.
    snapshot = copy.deepcopy(saved)
    first.step(grads[20])
    for a, b in zip(saved["state"], snapshot["state"], strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])

    # A fresh optimizer over parameters in the state reached after 20 steps, constructed with
    # other hyperparameters: loading restores the saved ones.
    resumed_params = _params_after(name, options, grads[:20])
    resumed: optim.Optimizer = getattr(optim, name)(resumed_params, **{**options, "lr": 123.0})
    resumed.load_state_dict(saved)
    assert resumed.state_dict()["hyperparameters"] == saved["hyperparameters"]
    # Mutating the dict after loading must not reach the optimizer (copies, not views).
    for state in saved["state"]:
        for value in state.values():
            if isinstance(value, np.ndarray):
                value += 1e3
    for g in grads[20:]:
        resumed.step(g)
    for p, q in zip(resumed.params, uninterrupted.params, strict=True):
        np.testing.assert_array_equal(p, q)


def _params_after(name: str, options: OptionSet, grads: list[list[FloatArray]]) -> list[FloatArray]:
    params = random_params(np.random.default_rng(11))
    opt: optim.Optimizer = getattr(optim, name)(params, **options)
    for g in grads:
        opt.step(g)
    return params


def test_load_state_dict_rejects_mismatches() -> None:
    params = random_params(np.random.default_rng(12))
    opt = optim.Adam(params)
    good = opt.state_dict()
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(params).load_state_dict(
            {**good, "hyperparameters": {**good["hyperparameters"], "betas": (1.5, 0.9)}}
        )
    with pytest.raises(ValueError, match="hyperparameters"):
        optim.Adam(params).load_state_dict({**good, "hyperparameters": {"lr": 0.1}})
    with pytest.raises(ValueError, match="state"):
        optim.Adam(params).load_state_dict({**good, "state": good["state"][:-1]})
    bad_shape = [dict(s) for s in good["state"]]
    bad_shape[0]["exp_avg"] = np.zeros((9, 9))
    with pytest.raises(ValueError, match="exp_avg"):
        optim.Adam(params).load_state_dict({**good, "state": bad_shape})
    # amsgrad needs max_exp_avg_sq, which the saved state lacks; the optimizer is left unchanged.
    target = optim.Adam(params)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        target.load_state_dict(
            {**good, "hyperparameters": {**good["hyperparameters"], "amsgrad": True}}
        )
    assert target.amsgrad is False


Factory = Callable[[list[FloatArray]], optim.Optimizer]
INVALID: list[tuple[str, Factory]] = [
    ("lr", lambda p: optim.SGD(p, lr=-1.0)),
    ("momentum", lambda p: optim.SGD(p, momentum=-0.1)),
    ("weight_decay", lambda p: optim.SGD(p, weight_decay=-0.1)),
    ("nesterov", lambda p: optim.SGD(p, nesterov=True)),
    ("nesterov", lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True)),
    ("lr", lambda p: optim.Adagrad(p, lr=-1.0)),
    ("lr_decay", lambda p: optim.Adagrad(p, lr_decay=-1.0)),
    ("weight_decay", lambda p: optim.Adagrad(p, weight_decay=-1.0)),
    ("initial_accumulator_value", lambda p: optim.Adagrad(p, initial_accumulator_value=-1.0)),
    ("eps", lambda p: optim.Adagrad(p, eps=-1.0)),
    ("lr", lambda p: optim.RMSprop(p, lr=-1.0)),
    ("alpha", lambda p: optim.RMSprop(p, alpha=-0.5)),
    ("eps", lambda p: optim.RMSprop(p, eps=-1.0)),
    ("momentum", lambda p: optim.RMSprop(p, momentum=-1.0)),
    ("weight_decay", lambda p: optim.RMSprop(p, weight_decay=-1.0)),
    ("lr", lambda p: optim.Adam(p, lr=-1.0)),
    ("lr", lambda p: optim.Adam(p, lr=float("nan"))),
    ("eps", lambda p: optim.Adam(p, eps=-1e-8)),
    ("betas", lambda p: optim.Adam(p, betas=(1.0, 0.999))),
    ("betas", lambda p: optim.Adam(p, betas=(0.9, -0.1))),
    ("betas", lambda p: optim.Adam(p, betas=(0.9,))),  # type: ignore[arg-type]
    ("weight_decay", lambda p: optim.Adam(p, weight_decay=-1.0)),
    ("lr", lambda p: optim.AdamW(p, lr=-1.0)),
    ("betas", lambda p: optim.AdamW(p, betas=(0.9, 1.0))),
    ("eps", lambda p: optim.AdamW(p, eps=-1.0)),
    ("weight_decay", lambda p: optim.AdamW(p, weight_decay=-1.0)),
    ("params", lambda p: optim.Adam([])),
    ("params", lambda p: optim.Adam([np.arange(3)])),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("argument", "factory"), INVALID, ids=[a for a, _ in INVALID])
def test_invalid_arguments_name_the_argument(argument: str, factory: Factory) -> None:
    with pytest.raises(ValueError, match=argument):
        factory([np.zeros(3)])


def test_invalid_lr_message() -> None:
    with pytest.raises(ValueError, match=r"^Invalid learning rate \(lr\): -1.0$"):
        optim.Adam([np.zeros(3)], lr=-1.0)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_bad_grads_name_grads(name: str) -> None:
    opt: optim.Optimizer = getattr(optim, name)([np.zeros(3), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="grads"):
        opt.step([np.zeros(3)])
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        opt.step([np.zeros(3), np.zeros(4)])
    assert opt.steps == [0, 0]


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["Adam", "AdamW", "RMSprop"]),
    lr=st.floats(1e-4, 0.5),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.0, 0.9999),
    eps=st.floats(1e-12, 1e-2),
    weight_decay=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_hyperparameters_match_torch(
    name: str, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, seed: int
) -> None:
    if name == "RMSprop":
        options: OptionSet = {"lr": lr, "alpha": beta2, "eps": eps, "weight_decay": weight_decay}
    else:
        options = {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay}
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(7)]
    ours, theirs, tensors = make_pair(name, params, options)
    for _ in range(15):
        grads = [rng.standard_normal(p.shape) for p in params]
        ours.step(grads)
        torch_step(theirs, tensors, grads)
    for p, t in zip(params, tensors, strict=True):
        assert_close_to_torch(p, to_numpy(t))
