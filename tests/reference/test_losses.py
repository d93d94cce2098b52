"""reference.losses against their torch.nn.functional namesakes, in float64."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import FD_TOL, TORCH_TOL, FloatArray, fd_errors, rel_diff, t64
from _torch import strict_errstate
from numpy.typing import NDArray

from reference import losses

REDUCTIONS = ["none", "mean", "sum"]


def upstream(rng: np.random.Generator, loss: Any) -> FloatArray:
    """A random dL/dl shaped like the (possibly reduced) loss."""
    return np.asarray(rng.standard_normal(np.shape(loss)))


def check_against_torch(
    ours: Callable[..., Any],
    ours_backward: Callable[..., Any],
    theirs: Callable[..., torch.Tensor],
    x: FloatArray,
    target: Any,
    torch_target: torch.Tensor,
    **kwargs: Any,
) -> None:
    """Loss and gradient (autograd with a random upstream gradient) agree with torch."""
    tx = t64(x).requires_grad_()
    expected = theirs(tx, torch_target, **kwargs)
    g = upstream(np.random.default_rng(0), expected.detach().numpy())
    expected.backward(t64(g))
    with strict_errstate():
        loss = ours(x, target, **kwargs)
        grad = ours_backward(g, x, target, **kwargs)
    assert loss.shape == tuple(expected.shape)
    assert rel_diff(loss, expected) <= TORCH_TOL
    assert rel_diff(grad, tx.grad) <= TORCH_TOL


def check_finite_differences(
    ours: Callable[..., Any],
    ours_backward: Callable[..., Any],
    x: FloatArray,
    target: Any,
    **kwargs: Any,
) -> None:
    g = upstream(np.random.default_rng(1), ours(x, target, **kwargs))
    grad = ours_backward(g, x, target, **kwargs)
    assert fd_errors(lambda: float(np.sum(g * ours(x, target, **kwargs))), [x], [grad])[0] <= FD_TOL


# --- cross-entropy and nll ---------------------------------------------------------------------

CE_SHAPES = [(5, 4), (3, 4, 2), (2, 4, 3, 2), (1, 1)]
CE_OPTIONS: list[dict[str, Any]] = [
    {},
    {"weighted": True},
    {"ignore": True},
    {"label_smoothing": 0.2},
    {"weighted": True, "ignore": True, "label_smoothing": 0.1},
    {"ignore": True, "label_smoothing": 0.3, "ignore_index": 1},
]


def ce_case(
    shape: tuple[int, ...], option: dict[str, Any], seed: int = 2
) -> tuple[FloatArray, NDArray[np.int64], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal(shape)
    c = shape[1]
    target = rng.integers(0, c, (shape[0], *shape[2:]))
    kwargs: dict[str, Any] = {}
    if option.get("weighted"):
        kwargs["weight"] = rng.uniform(0.2, 2.0, c)
    if "label_smoothing" in option:
        kwargs["label_smoothing"] = option["label_smoothing"]
    if option.get("ignore"):
        ignore_index = option.get("ignore_index", -100)
        kwargs["ignore_index"] = ignore_index
        target.reshape(-1)[::2] = ignore_index  # every other target ignored, the first one too
        target.reshape(-1)[-1] = rng.integers(0, c) if ignore_index < 0 else 0
    return x, target, kwargs


def torch_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: t64(v) if k in ("weight", "pos_weight") else v for k, v in kwargs.items()}


def with_arrays(f: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """f with its weight / pos_weight keyword arguments turned into tensors."""
    return lambda a, b, **k: f(a, b, **torch_kwargs(k))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS, ids=str)
@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
def test_cross_entropy_and_nll_with_class_indices_match_torch(
    shape: tuple[int, ...], option: dict[str, Any], reduction: str
) -> None:
    x, target, kwargs = ce_case(shape, option)
    if shape[1] == 1 and kwargs.get("ignore_index") == 1:
        return
    tt = torch.from_numpy(target)
    check_against_torch(
        losses.cross_entropy, losses.cross_entropy_backward, with_arrays(F.cross_entropy), x,
        target, tt, reduction=reduction, **kwargs,
    )  # fmt: skip
    if "label_smoothing" not in kwargs:
        log_p = F.log_softmax(t64(x), 1).numpy()
        check_against_torch(
            losses.nll_loss, losses.nll_loss_backward, with_arrays(F.nll_loss), log_p, target, tt,
            reduction=reduction, **kwargs,
        )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", [{}, {"weighted": True, "label_smoothing": 0.25}], ids=str)
@pytest.mark.parametrize("shape", CE_SHAPES[:3], ids=str)
def test_cross_entropy_with_probabilities_matches_torch(
    shape: tuple[int, ...], option: dict[str, Any], reduction: str
) -> None:
    x, _, kwargs = ce_case(shape, option)
    probs = np.random.default_rng(3).dirichlet(np.ones(shape[1]), (shape[0], *shape[2:]))
    probs = np.moveaxis(probs, -1, 1)
    check_against_torch(
        losses.cross_entropy, losses.cross_entropy_backward, with_arrays(F.cross_entropy), x,
        probs, t64(probs), reduction=reduction, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS[1:], ids=str)
def test_cross_entropy_and_nll_backward_match_finite_differences(
    option: dict[str, Any], reduction: str
) -> None:
    x, target, kwargs = ce_case((3, 4, 2), option)
    check_finite_differences(
        losses.cross_entropy,
        losses.cross_entropy_backward,
        x,
        target,
        reduction=reduction,
        **kwargs,
    )
    kwargs.pop("label_smoothing", None)
    check_finite_differences(
        losses.nll_loss, losses.nll_loss_backward, x, target, reduction=reduction, **kwargs
    )
    probs = np.moveaxis(np.random.default_rng(4).dirichlet(np.ones(4), (3, 2)), -1, 1)
    check_finite_differences(
        losses.cross_entropy, losses.cross_entropy_backward, x, probs, reduction=reduction,
        label_smoothing=0.1,
    )  # fmt: skip


def test_all_targets_ignored_gives_nan_mean_like_torch() -> None:
    x = np.zeros((2, 3))
    target = np.array([-100, -100])
    assert np.isnan(losses.cross_entropy(x, target))
    assert torch.isnan(F.cross_entropy(t64(x), torch.from_numpy(target)))
    assert losses.cross_entropy(x, target, reduction="sum") == 0.0


# --- pointwise losses -----------------------------------------------------------------------------

POINTWISE: list[
    tuple[Callable[..., Any], Callable[..., Any], Callable[..., torch.Tensor], dict[str, Any]]
] = [
    (losses.mse_loss, losses.mse_loss_backward, F.mse_loss, {}),
    (losses.l1_loss, losses.l1_loss_backward, F.l1_loss, {}),
    (losses.huber_loss, losses.huber_loss_backward, F.huber_loss, {}),
    (losses.huber_loss, losses.huber_loss_backward, F.huber_loss, {"delta": 0.3}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2)], ids=str)
@pytest.mark.parametrize("case", POINTWISE, ids=lambda c: f"{c[0].__name__}{c[3]}")
def test_pointwise_losses_match_torch_and_finite_differences(
    case: tuple[Any, ...], shape: tuple[int, ...], reduction: str
) -> None:
    ours, backward, theirs, kwargs = case
    rng = np.random.default_rng(5)
    x = 2 * rng.standard_normal(shape)
    y = 2 * rng.standard_normal(shape)
    check_against_torch(ours, backward, theirs, x, y, t64(y), reduction=reduction, **kwargs)
    check_finite_differences(ours, backward, x, y, reduction=reduction, **kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "option", [{}, {"weight": True}, {"pos_weight": True}, {"weight": True, "pos_weight": True}],
    ids=str,
)  # fmt: skip
def test_bce_with_logits_matches_torch_and_finite_differences(
    option: dict[str, Any], reduction: str
) -> None:
    rng = np.random.default_rng(6)
    x = 3 * rng.standard_normal((4, 3))
    y = rng.uniform(0, 1, (4, 3))
    y[0] = (y[0] > 0.5).astype(float)
    kwargs: dict[str, Any] = {"reduction": reduction}
    if option.get("weight"):
        kwargs["weight"] = rng.uniform(0.5, 2, (4, 1))
    if option.get("pos_weight"):
        kwargs["pos_weight"] = rng.uniform(0.5, 3, 3)
    check_against_torch(
        losses.binary_cross_entropy_with_logits,
        losses.binary_cross_entropy_with_logits_backward,
        with_arrays(F.binary_cross_entropy_with_logits),
        x, y, t64(y), **kwargs,
    )  # fmt: skip
    check_finite_differences(
        losses.binary_cross_entropy_with_logits,
        losses.binary_cross_entropy_with_logits_backward, x, y, **kwargs,
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides the total loss")
@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch_and_finite_differences(log_target: bool, reduction: str) -> None:
    rng = np.random.default_rng(7)
    x = F.log_softmax(t64(rng.standard_normal((3, 5))), 1).numpy()
    y = rng.dirichlet(np.ones(5), 3)
    y[0, 1] = 0.0  # xlogy: 0 log 0 = 0
    target = np.log(y + 0.1) if log_target else y
    kwargs = {"reduction": reduction, "log_target": log_target}
    check_against_torch(
        losses.kl_div, losses.kl_div_backward, F.kl_div, x, target, t64(target), **kwargs
    )
    check_finite_differences(losses.kl_div, losses.kl_div_backward, x, target, **kwargs)


# --- stability, dtype, arguments ------------------------------------------------------------------


def test_extreme_logits_are_finite_and_match_torch() -> None:
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    target = np.array([1, 2])
    check_against_torch(
        losses.cross_entropy, losses.cross_entropy_backward, F.cross_entropy, x, target,
        torch.from_numpy(target), label_smoothing=0.1,
    )  # fmt: skip
    y = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]])
    check_against_torch(
        losses.binary_cross_entropy_with_logits, losses.binary_cross_entropy_with_logits_backward,
        with_arrays(F.binary_cross_entropy_with_logits),
        x, y, t64(y), pos_weight=np.array([2.0, 0.5, 1.0]),
    )  # fmt: skip


def test_float32_keeps_dtype() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.uniform(size=(4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 1])
    pairs: list[tuple[Any, Any, Any]] = [
        (losses.cross_entropy, losses.cross_entropy_backward, t),
        (losses.nll_loss, losses.nll_loss_backward, t),
        (losses.mse_loss, losses.mse_loss_backward, y),
        (losses.l1_loss, losses.l1_loss_backward, y),
        (losses.huber_loss, losses.huber_loss_backward, y),
        (
            losses.binary_cross_entropy_with_logits,
            losses.binary_cross_entropy_with_logits_backward,
            y,
        ),
        (losses.kl_div, losses.kl_div_backward, y),
    ]
    for forward, backward, target in pairs:
        for reduction in REDUCTIONS:
            loss = forward(x, target, reduction=reduction)
            assert loss.dtype == np.float32, forward.__name__
            assert backward(np.ones_like(loss), x, target, reduction=reduction).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: losses.mse_loss(np.zeros(3), np.zeros(3), reduction="batchmean"), "reduction"),
        (lambda: losses.kl_div(np.zeros(3), np.zeros(3), reduction="avg"), "reduction"),
        (lambda: losses.mse_loss(np.zeros(3), np.zeros(4)), "target"),
        (lambda: losses.mse_loss_backward(np.zeros(3), np.zeros(3), np.zeros(3)), "grad_output"),
        (lambda: losses.huber_loss(np.zeros(3), np.zeros(3), delta=0.0), "delta"),
        (lambda: losses.cross_entropy(np.zeros(3), np.zeros(3, int)), "input"),
        (lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), "target"),
        (lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0])), "target"),
        (lambda: losses.cross_entropy(np.zeros((2, 3)), np.zeros((2, 2))), "target"),
        (lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), np.ones(2)), "weight"),
        (
            lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5),
            "label_smoothing",
        ),
        (lambda: losses.nll_loss(np.zeros((2, 3)), np.zeros((2, 3))), "target"),
        (
            lambda: losses.binary_cross_entropy_with_logits(
                np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2)
            ),
            "pos_weight",
        ),
        (
            lambda: losses.cross_entropy_backward(np.zeros(2), np.zeros((2, 3)), np.array([0, 1])),
            "grad_output",
        ),
    ],
)
def test_bad_arguments_are_named(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
