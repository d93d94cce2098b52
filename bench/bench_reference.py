"""The NumPy reference implementations against what a user would pick instead, in the same run.

    .venv/bin/python bench/bench_reference.py optim         # reference.optim vs torch.optim
    .venv/bin/python bench/bench_reference.py batchnorm     # vs torch.nn.BatchNorm2d
    .venv/bin/python bench/bench_reference.py mlp           # vs sklearn MLPClassifier (adam)
    .venv/bin/python bench/bench_reference.py rbm           # vs sklearn BernoulliRBM
    .venv/bin/python bench/bench_reference.py autoencoder   # vs sklearn PCA
    .venv/bin/python bench/bench_reference.py attention     # vs torch SDPA, math path
    .venv/bin/python bench/bench_reference.py conv          # conv2d + max_pool2d vs torch
    .venv/bin/python bench/bench_reference.py lstm          # reference.recurrent.LSTM vs nn.LSTM
    .venv/bin/python bench/bench_reference.py all           # all of the above, one after another

Options: ``--threads N`` (default 1: NumPy's element-wise ufuncs use one thread, so one thread
for every side is the like-for-like comparison; BLAS and torch are pinned to the same count),
``--repeats N``, ``--no-write`` (print only).  Each benchmark warms up, then runs the contenders
in turn for several interleaved repeats and reports the median and the range (min to max); ratios
are reference / peer, taken repeat by repeat (median, min to max), so below 1 means the reference
is faster.  Each appends its report to bench/RESULTS.md with the machine, versions, BLAS kernel
and date.  OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, if set, are removed for this process only (it
re-executes itself).
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from _common import (
    Spread,
    Timings,
    environment_lines,
    interleaved,
    run_named,
    scrub_blas_env,
)
from numpy.typing import NDArray
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM
from sklearn.neural_network import MLPClassifier
from torch.nn.attention import SDPBackend, sdpa_kernel

from reference import conv, optim
from reference.attention import scaled_dot_product_attention
from reference.autoencoder import Autoencoder
from reference.batchnorm import BatchNorm
from reference.mlp import MLP
from reference.rbm import BernoulliRBM
from reference.recurrent import LSTM

FloatArray = NDArray[np.floating[Any]]
PACKAGES = ("numpy", "torch", "scikit-learn", "threadpoolctl")


def header(title: str, threads: int) -> list[str]:
    return environment_lines(title, PACKAGES, threads)


def ratio_text(ratio: tuple[float, float, float]) -> str:
    """The median of the per-repeat ratios, then the lowest and the highest."""
    return f"{ratio[0]:.2f} ({ratio[1]:.2f} to {ratio[2]:.2f})"


def pass_table(forward: Timings, both: Timings) -> list[str]:
    """A Markdown table of the forward and the forward + backward timings, reference vs torch."""
    rows = ["| pass | reference ms | torch ms | ratio reference / torch |", "|---|---|---|---|"]
    for name, timing in (("forward", forward), ("forward + backward", both)):
        rows.append(
            f"| {name} | {timing.spread('reference').fmt(1e3, 1)} | "
            f"{timing.spread('torch').fmt(1e3, 1)} | "
            f"{ratio_text(timing.ratio('reference', 'torch'))} |"
        )
    return [*rows, ""]


# -- optimizers -------------------------------------------------------------------------------

# (reference class, torch class, hyperparameters shared by both)
OPTIMIZERS: dict[str, tuple[type[optim.Optimizer], type[torch.optim.Optimizer], dict[str, Any]]] = {
    "SGD (momentum 0.9)": (optim.SGD, torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
    "RMSprop": (optim.RMSprop, torch.optim.RMSprop, {"lr": 1e-2}),
    "Adam": (optim.Adam, torch.optim.Adam, {"lr": 1e-3}),
    "AdamW": (optim.AdamW, torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 1e-2}),
}
TORCH_PATHS = {
    "torch single-tensor": {"foreach": False},
    "torch foreach": {"foreach": True},
    "torch fused": {"fused": True},
}


def layer_shapes(width: int, layers: int = 10) -> list[tuple[int, ...]]:
    """A stack of ``layers`` square linear layers: a weight and a bias each."""
    shapes: list[tuple[int, ...]] = []
    for _ in range(layers):
        shapes += [(width, width), (width,)]
    return shapes


def bench_optim(threads: int, repeats: int) -> str:
    lines = header("Optimizer step: reference.optim vs torch.optim", threads)
    lines += [
        "- parameters: float32, 10 linear layers (square weight + bias each), the same fixed "
        "random gradient at every step; time per `step()` (gradients already in place)",
        "- torch paths: `foreach=False` (single-tensor: what torch 2.13 picks by default for "
        "CPU tensors), `foreach=True` (the default on CUDA; on CPU a loop over per-tensor "
        "kernels), `fused=True` (one kernel per tensor); RMSprop has no fused path",
        "",
    ]
    for width in (316, 1000):
        shapes = layer_shapes(width)
        total = sum(math.prod(s) for s in shapes)
        number = max(1, round(2e7 / total))  # steps per timed call
        rng = np.random.default_rng(0)
        params0 = [rng.standard_normal(s, dtype=np.float32) * np.float32(0.05) for s in shapes]
        grads = [rng.standard_normal(s, dtype=np.float32) * np.float32(1e-2) for s in shapes]
        lines += [
            f"### {total:,} parameters ({len(shapes)} tensors), {number} steps per timing, "
            f"{repeats} repeats",
            "",
            "| optimizer | reference ms/step | torch single-tensor | torch foreach | torch fused "
            "| ref / foreach | ref / fused | ref / single |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, (ours_cls, torch_cls, hyper) in OPTIMIZERS.items():
            contenders: dict[str, Callable[[], Any]] = {}
            ours_params = [p.copy() for p in params0]
            ours = ours_cls(ours_params, **hyper)
            contenders["reference"] = lambda ours=ours, grads=grads: ours.step(grads)
            torch_params: dict[str, list[torch.Tensor]] = {}
            for path, flags in TORCH_PATHS.items():
                tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
                for t, g in zip(tensors, grads, strict=True):
                    t.grad = torch.from_numpy(g.copy())
                try:
                    opt = torch_cls(tensors, **hyper, **flags)
                except (RuntimeError, TypeError, ValueError):
                    continue  # no such path for this optimizer
                contenders[path] = opt.step
                torch_params[path] = tensors
            # The same three steps on both sides give the same parameters (float32 rounding).
            for _ in range(3):
                for call in contenders.values():
                    call()
            for path, tensors in torch_params.items():
                for p, t in zip(ours_params, tensors, strict=True):
                    diff = float(np.max(np.abs(p - t.detach().numpy())))
                    if diff > 1e-5:
                        raise SystemExit(f"{name}: reference and {path} disagree by {diff}")
            timings = interleaved(contenders, repeats=repeats, number=number)
            cells = [timings.spread("reference").fmt(1e3)]
            for path in TORCH_PATHS:
                cells.append(timings.spread(path).fmt(1e3) if path in contenders else "n/a")
            for path in ("torch foreach", "torch fused", "torch single-tensor"):
                cells.append(
                    ratio_text(timings.ratio("reference", path)) if path in contenders else "n/a"
                )
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
        lines.append("")
    return "\n".join(lines)


# -- batch normalisation ----------------------------------------------------------------------


def bench_batchnorm(threads: int, repeats: int) -> str:
    shape = (256, 64, 32, 32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32) * np.float32(2.0) + np.float32(0.5)
    g = rng.standard_normal(shape, dtype=np.float32)
    ours = BatchNorm(shape[1], dtype=np.float32)
    theirs = torch.nn.BatchNorm2d(shape[1])
    x_t = torch.from_numpy(x).requires_grad_(True)
    g_t = torch.from_numpy(g)

    def ours_forward() -> FloatArray:
        return ours.forward(x)

    def ours_both() -> FloatArray:
        ours.forward(x)
        return ours.backward(g)

    def torch_forward() -> torch.Tensor:
        with torch.no_grad():
            return theirs(x_t)

    def torch_both() -> torch.Tensor:
        x_t.grad = None
        theirs.zero_grad(set_to_none=True)
        theirs(x_t).backward(g_t)
        assert x_t.grad is not None
        return x_t.grad

    # Same outputs and input gradients (float32), before any timing.
    y_ours, dx_ours = ours_forward(), ours_both()
    y_torch = torch_forward().numpy()
    dx_torch = torch_both().numpy()
    assert theirs.weight.grad is not None and ours.grad_weight is not None
    checks = {
        "output": float(np.max(np.abs(y_ours - y_torch))),
        "input gradient": float(np.max(np.abs(dx_ours - dx_torch))),
        "weight gradient": float(
            np.max(np.abs(ours.grad_weight - theirs.weight.grad.numpy()))
            / np.max(np.abs(theirs.weight.grad.numpy()))
        ),
    }
    for what, diff in checks.items():
        if diff > 1e-3:
            raise SystemExit(f"batchnorm: {what} differs from torch by {diff}")

    forward = interleaved(
        {"reference": ours_forward, "torch": torch_forward}, repeats=repeats, number=1
    )
    both = interleaved({"reference": ours_both, "torch": torch_both}, repeats=repeats, number=1)
    lines = header("BatchNorm2d forward + backward: reference.batchnorm vs torch", threads)
    lines += [
        f"- input {shape} float32 (N, C, H, W), training mode (batch statistics, running "
        "statistics updated), affine; backward gives the input, weight and bias gradients",
        f"- {repeats} interleaved repeats after a warm-up; largest difference to torch: "
        + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()),
        "",
        *pass_table(forward, both),
    ]
    return "\n".join(lines)


# -- MLP on digits ----------------------------------------------------------------------------


def digits_split() -> tuple[FloatArray, FloatArray, NDArray[np.int64], NDArray[np.int64]]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    return x_train, x_test, y_train, y_test


def bench_mlp(threads: int, repeats: int) -> str:
    x_train, x_test, y_train, y_test = digits_split()
    hidden, epochs, batch_size, lr = 100, 50, 32, 1e-3

    seeds = {"reference": itertools.count(), "sklearn": itertools.count()}

    def ours() -> float:
        seed = next(seeds["reference"])
        model = MLP([x_train.shape[1], hidden, 10], activation="relu", seed=seed)
        model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
        return float(np.mean(model.predict(x_test) == y_test))

    def sklearn() -> float:
        seed = next(seeds["sklearn"])
        model = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            activation="relu",
            solver="adam",
            alpha=0.0,  # no L2 penalty: the reference MLP has none
            batch_size=batch_size,
            learning_rate_init=lr,
            max_iter=epochs,
            tol=0.0,
            n_iter_no_change=epochs + 1,  # never stop early: exactly `epochs` epochs
            shuffle=True,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        assert model.n_iter_ == epochs
        return float(model.score(x_test, y_test))

    timings = interleaved(
        {"reference": ours, "sklearn": sklearn}, repeats=repeats, warmup=1, keep_results=True
    )
    acc = {name: Spread(values) for name, values in timings.results.items()}
    lines = header("MLP training on digits: reference.mlp.MLP vs sklearn MLPClassifier", threads)
    lines += [
        f"- load_digits scaled to [0, 1], stratified 75/25 split ({len(x_train)} train, "
        f"{len(x_test)} test), float64",
        f"- both: 64-{hidden}-10, relu, softmax cross-entropy, Adam lr {lr}, batch {batch_size}, "
        f"{epochs} epochs, shuffled every epoch, no L2 penalty (sklearn alpha=0, no early stop)",
        f"- {repeats} interleaved repeats after a warm-up, the same seed for both sides in each "
        "repeat; wall time of construction + fit; test accuracy",
        "",
        "| implementation | fit seconds | test accuracy, median (min to max) |",
        "|---|---|---|",
        f"| reference.mlp.MLP | {timings.spread('reference').fmt(1, 3)} | "
        f"{acc['reference'].fmt(100, 2)} % |",
        f"| sklearn MLPClassifier | {timings.spread('sklearn').fmt(1, 3)} | "
        f"{acc['sklearn'].fmt(100, 2)} % |",
        "",
        f"**time ratio reference / sklearn: {ratio_text(timings.ratio('reference', 'sklearn'))}**;"
        f" mean accuracy {statistics.mean(acc['reference'].values) * 100:.2f} % vs "
        f"{statistics.mean(acc['sklearn'].values) * 100:.2f} %",
        "",
    ]
    return "\n".join(lines)


# -- RBM on binarised digits ------------------------------------------------------------------


def bench_rbm(threads: int, repeats: int) -> str:
    x_train, x_test, _, _ = digits_split()
    v_train = (x_train > 0.5).astype(np.float64)
    v_test = (x_test > 0.5).astype(np.float64)
    # scikit-learn's defaults, used on both sides.
    hidden, lr, batch_size, epochs = 256, 0.1, 10, 10
    models: dict[str, list[BernoulliRBM]] = {"reference": [], "sklearn": []}

    def ours() -> None:
        seed = len(models["reference"])
        rbm = BernoulliRBM(v_train.shape[1], hidden, seed=seed)
        rbm.fit(v_train, epochs=epochs, batch_size=batch_size, lr=lr, persistent=True,
                monitor=False)  # fmt: skip
        models["reference"].append(rbm)

    def sklearn() -> None:
        seed = len(models["sklearn"])
        sk = SkBernoulliRBM(
            n_components=hidden,
            learning_rate=lr,
            batch_size=batch_size,
            n_iter=epochs,
            random_state=seed,
        ).fit(v_train)
        # The same exact pseudo-likelihood function scores both: copy sklearn's parameters in.
        rbm = BernoulliRBM(v_train.shape[1], hidden)
        rbm.W = sk.components_.T.copy()
        rbm.b_visible = sk.intercept_visible_.copy()
        rbm.b_hidden = sk.intercept_hidden_.copy()
        models["sklearn"].append(rbm)

    timings = interleaved({"reference": ours, "sklearn": sklearn}, repeats=repeats, warmup=1)
    pl = {
        (name, split): Spread([m.pseudo_likelihood(v) for m in trained[1:]])  # skip warm-up
        for name, trained in models.items()
        for split, v in (("train", v_train), ("test", v_test))
    }
    lines = header("RBM on binarised digits: reference.rbm vs sklearn BernoulliRBM", threads)
    lines += [
        f"- load_digits > 8/16 as binary, the split of the MLP benchmark ({len(v_train)} train, "
        f"{len(v_test)} test), float64",
        f"- both: {hidden} hidden units, PCD-1 (persistent chains), learning rate {lr}, batch "
        f"{batch_size}, {epochs} epochs (scikit-learn's defaults); the reference fits with "
        "`monitor=False` (no per-epoch scoring, as sklearn without verbose)",
        "- pseudo-likelihood: exact mean log PL over all 64 visible units, the same function "
        "(`reference.rbm.BernoulliRBM.pseudo_likelihood`) on both models (sklearn's "
        "`score_samples` flips one random unit per row: a stochastic estimate)",
        f"- {repeats} interleaved repeats, seed r for both sides in repeat r",
        "",
        "| implementation | fit seconds | exact log PL, train | exact log PL, test |",
        "|---|---|---|---|",
        f"| reference.rbm.BernoulliRBM | {timings.spread('reference').fmt(1, 3)} | "
        f"{pl['reference', 'train'].fmt(1, 3)} | {pl['reference', 'test'].fmt(1, 3)} |",
        f"| sklearn BernoulliRBM | {timings.spread('sklearn').fmt(1, 3)} | "
        f"{pl['sklearn', 'train'].fmt(1, 3)} | {pl['sklearn', 'test'].fmt(1, 3)} |",
        "",
        f"**time ratio reference / sklearn: {ratio_text(timings.ratio('reference', 'sklearn'))}**"
        " (higher log PL is better)",
        "",
    ]
    return "\n".join(lines)


# -- autoencoder vs PCA -----------------------------------------------------------------------


def bench_autoencoder(threads: int, repeats: int) -> str:
    x_train, x_test, _, _ = digits_split()
    epochs, batch_size, lr = 200, 64, 3e-3
    lines = header("Autoencoder vs PCA on digits: reconstruction error at the same k", threads)
    lines += [
        f"- load_digits scaled to [0, 1], the split of the MLP benchmark ({len(x_train)} train, "
        f"{len(x_test)} test), float64; error = mean squared error per pixel on the test set",
        f"- reference.autoencoder.Autoencoder: linear encoder and decoder (untied), Adam lr {lr},"
        f" batch {batch_size}, {epochs} epochs; PCA: sklearn, full SVD",
        f"- {repeats} interleaved repeats (seed r for the autoencoder in repeat r)",
        "",
        "| k | autoencoder test MSE | PCA test MSE | error ratio AE / PCA | AE fit s | PCA fit s |",
        "|---|---|---|---|---|---|",
    ]
    for k in (8, 16, 32):
        seeds = iter(range(repeats + 1))

        def ours(k: int = k, seeds: Iterator[int] = seeds) -> float:
            ae = Autoencoder(x_train.shape[1], k, activation="linear", seed=next(seeds))
            ae.fit(x_train, epochs=epochs, batch_size=batch_size, lr=lr)
            return float(np.mean((ae.reconstruct(x_test) - x_test) ** 2))

        def pca(k: int = k) -> float:
            model = PCA(n_components=k, svd_solver="full").fit(x_train)
            return float(np.mean((model.inverse_transform(model.transform(x_test)) - x_test) ** 2))

        timings = interleaved(
            {"reference": ours, "PCA": pca}, repeats=repeats, warmup=1, keep_results=True
        )
        err_ae, err_pca = Spread(timings.results["reference"]), Spread(timings.results["PCA"])
        lines.append(
            f"| {k} | {err_ae.fmt(1, 5)} | {err_pca.median:.5f} | "
            f"{err_ae.median / err_pca.median:.3f} | {timings.spread('reference').fmt(1, 3)} | "
            f"{timings.spread('PCA').fmt(1, 4)} |"
        )
        print(lines[-1], flush=True)
    lines.append("")
    return "\n".join(lines)


# -- attention --------------------------------------------------------------------------------


def bench_attention(threads: int, repeats: int) -> str:
    shape = (8, 16, 256, 64)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))
    q_t, k_t, v_t = (torch.from_numpy(a) for a in (q, k, v))

    def ours() -> FloatArray:
        return scaled_dot_product_attention(q, k, v)

    def torch_math() -> torch.Tensor:
        with sdpa_kernel(SDPBackend.MATH):
            return torch.nn.functional.scaled_dot_product_attention(q_t, k_t, v_t)

    def torch_default() -> torch.Tensor:
        return torch.nn.functional.scaled_dot_product_attention(q_t, k_t, v_t)

    diff = float(np.max(np.abs(ours() - torch_math().numpy())))
    if diff > 1e-4:
        raise SystemExit(f"attention: reference differs from torch by {diff}")
    timings = interleaved(
        {"reference": ours, "torch math": torch_math, "torch default": torch_default},
        repeats=repeats,
    )
    lines = header("Attention forward: reference.attention vs torch SDPA", threads)
    lines += [
        f"- query, key, value {shape} float32 (batch, heads, length, head dim), no mask, "
        "no dropout; `scaled_dot_product_attention` forward only",
        "- torch math: `sdpa_kernel(SDPBackend.MATH)`; torch default: the backend torch picks "
        f"on this CPU (the fused flash-attention kernel); largest difference {diff:.1e}",
        f"- {repeats} interleaved repeats after a warm-up",
        "",
        "| implementation | ms | ratio reference / this |",
        "|---|---|---|",
        f"| reference | {timings.spread('reference').fmt(1e3, 1)} | 1 |",
        f"| torch math | {timings.spread('torch math').fmt(1e3, 1)} | "
        f"{ratio_text(timings.ratio('reference', 'torch math'))} |",
        f"| torch default (flash) | {timings.spread('torch default').fmt(1e3, 1)} | "
        f"{ratio_text(timings.ratio('reference', 'torch default'))} |",
        "",
    ]
    return "\n".join(lines)


# -- convolution and pooling ------------------------------------------------------------------


def _load_line() -> str:
    load = os.getloadavg()[0]
    return (
        f"- load average {load:.1f} on {os.cpu_count()} cores when the run began: the machine "
        "was shared with other jobs, so absolute times are noisy (the ratios, taken repeat by "
        "repeat, less so)"
    )


def _largest_difference(ours: list[Any], theirs: list[torch.Tensor | None]) -> float:
    """max |ours - theirs| / max |theirs| over pairs of arrays (float32 round-off: ~1e-6)."""
    worst = 0.0
    for a, t in zip(ours, theirs, strict=True):
        assert t is not None
        b = t.detach().numpy()
        worst = max(worst, float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30)))
    return worst


def bench_conv(threads: int, repeats: int) -> str:
    rng = np.random.default_rng(0)
    cases = {
        "conv2d 3x3, padding 1": ((32, 32, 32, 32), (64, 32, 3, 3), {"padding": 1}),
        "conv2d 3x3, stride 2, groups 4": (
            (32, 32, 32, 32), (64, 8, 3, 3), {"stride": 2, "padding": 1, "groups": 4},
        ),
    }  # fmt: skip
    lines = header("conv2d and max_pool2d forward + backward: reference.conv vs torch", threads)
    lines += [
        f"- float32, {repeats} interleaved repeats after a warm-up; backward gives the input, "
        "weight and bias gradients (pooling: the input gradient); the largest relative "
        "difference to torch is checked before timing",
        _load_line(),
        "- why the reference loses: torch runs oneDNN's blocked direct-convolution and pooling "
        "kernels; the reference copies every k_h x k_w patch into a matrix (im2col, 9 times the "
        "input for 3 x 3) before one BLAS product per group, adds the patch gradients back with "
        "one strided pass per kernel offset (col2im), and pools through an argmax over a copy "
        "of the windows and a bincount",
        "",
        "| case | pass | reference ms | torch ms | ratio reference / torch |",
        "|---|---|---|---|---|",
    ]
    for name, (x_shape, w_shape, options) in cases.items():
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal(w_shape, dtype=np.float32) * np.float32(0.1)
        b = rng.standard_normal(w_shape[0], dtype=np.float32)
        y = conv.conv2d(x, w, b, **options)
        g = rng.standard_normal(y.shape, dtype=np.float32)
        x_t, w_t, b_t = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        g_t = torch.from_numpy(g)

        def ours_forward(x: FloatArray = x, w: FloatArray = w, b: FloatArray = b,
                         options: dict[str, Any] = options) -> FloatArray:  # fmt: skip
            return conv.conv2d(x, w, b, **options)

        def ours_both(x: FloatArray = x, w: FloatArray = w, b: FloatArray = b, g: FloatArray = g,
                      options: dict[str, Any] = options) -> Any:  # fmt: skip
            conv.conv2d(x, w, b, **options)
            return conv.conv2d_backward(g, x, w, **options)

        def torch_forward(options: dict[str, Any] = options, tensors: Any = (x_t, w_t, b_t)) -> Any:
            with torch.no_grad():
                return torch.nn.functional.conv2d(*tensors, **options)

        def torch_both(options: dict[str, Any] = options, tensors: Any = (x_t, w_t, b_t),
                       g_t: torch.Tensor = g_t) -> Any:  # fmt: skip
            for t in tensors:
                t.grad = None
            torch.nn.functional.conv2d(*tensors, **options).backward(g_t)
            return tensors[0].grad

        torch_both()
        diff = _largest_difference(
            [ours_forward(), *ours_both()], [torch_forward(), x_t.grad, w_t.grad, b_t.grad]
        )
        if diff > 1e-4:
            raise SystemExit(f"conv: {name} differs from torch by {diff}")
        forward = interleaved({"reference": ours_forward, "torch": torch_forward},
                              repeats=repeats)  # fmt: skip
        both = interleaved({"reference": ours_both, "torch": torch_both}, repeats=repeats)
        label = f"{name}: x {x_shape}, weight {w_shape} (diff {diff:.0e})"
        for pass_name, timing in (("forward", forward), ("forward + backward", both)):
            lines.append(
                f"| {label} | {pass_name} | {timing.spread('reference').fmt(1e3, 1)} | "
                f"{timing.spread('torch').fmt(1e3, 1)} | "
                f"{ratio_text(timing.ratio('reference', 'torch'))} |"
            )
    x = rng.standard_normal((32, 64, 32, 32), dtype=np.float32)
    y = conv.max_pool2d(x, 3, 2, 1)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    x_t = torch.from_numpy(x).requires_grad_(True)

    def ours_pool() -> FloatArray:
        conv.max_pool2d(x, 3, 2, 1)
        return conv.max_pool2d_backward(g, x, 3, 2, 1)

    def torch_pool() -> Any:
        x_t.grad = None
        torch.nn.functional.max_pool2d(x_t, 3, 2, 1).backward(torch.from_numpy(g))
        return x_t.grad

    diff = _largest_difference([ours_pool()], [torch_pool()])
    if diff > 1e-6:
        raise SystemExit(f"conv: max_pool2d differs from torch by {diff}")
    pool = interleaved({"reference": ours_pool, "torch": torch_pool}, repeats=repeats)
    lines += [
        f"| max_pool2d 3x3, stride 2, padding 1: x {x.shape} | forward + backward | "
        f"{pool.spread('reference').fmt(1e3, 1)} | {pool.spread('torch').fmt(1e3, 1)} | "
        f"{ratio_text(pool.ratio('reference', 'torch'))} |",
        "",
    ]
    return "\n".join(lines)


# -- LSTM -------------------------------------------------------------------------------------


def bench_lstm(threads: int, repeats: int) -> str:
    steps, batch, inputs, hidden = 50, 32, 32, 128
    rng = np.random.default_rng(0)
    theirs = torch.nn.LSTM(inputs, hidden)
    weights = [p.detach().numpy().copy() for p in theirs.parameters()]
    ours = LSTM(*weights)
    x = rng.standard_normal((steps, batch, inputs), dtype=np.float32)
    g = rng.standard_normal((steps, batch, hidden), dtype=np.float32)
    x_t = torch.from_numpy(x).requires_grad_(True)
    g_t = torch.from_numpy(g)

    def ours_forward() -> FloatArray:
        return ours.forward(x)[0]

    def ours_both() -> dict[str, FloatArray]:
        ours.forward(x)
        return ours.backward(g)

    def torch_forward() -> torch.Tensor:
        with torch.no_grad():
            return theirs(x_t)[0]

    def torch_both() -> torch.Tensor:
        x_t.grad = None
        theirs.zero_grad(set_to_none=True)
        theirs(x_t)[0].backward(g_t)
        assert x_t.grad is not None
        return x_t.grad

    grads = ours_both()
    torch_both()
    diff = _largest_difference(
        [ours_forward(), grads["x"], grads["weight_hh"]],
        [torch_forward(), x_t.grad, theirs.weight_hh_l0.grad],
    )
    if diff > 1e-4:
        raise SystemExit(f"lstm: reference differs from torch by {diff}")
    forward = interleaved({"reference": ours_forward, "torch": torch_forward}, repeats=repeats)
    both = interleaved({"reference": ours_both, "torch": torch_both}, repeats=repeats)
    lines = header("LSTM forward + backward (BPTT): reference.recurrent.LSTM vs torch.nn.LSTM",
                   threads)  # fmt: skip
    lines += [
        f"- one layer, T = {steps} steps, batch {batch}, input {inputs}, hidden {hidden}, "
        "float32, biases; backward gives the input, initial-state, weight and bias gradients",
        f"- {repeats} interleaved repeats after a warm-up; largest relative difference to torch "
        f"{diff:.0e}",
        _load_line(),
        "- why the reference loses: each time step is a Python iteration of a dozen NumPy calls "
        "on (batch, 4 hidden) arrays, each allocating its result; torch runs the same step in "
        "C++ with fused element-wise gate kernels. Both do one product for the inputs of all "
        "steps and one per step for the recurrence",
        "",
        *pass_table(forward, both),
    ]
    return "\n".join(lines)


BENCHMARKS: dict[str, tuple[Callable[[int, int], str], int]] = {
    # name: (function, default repeats)
    "optim": (bench_optim, 9),
    "batchnorm": (bench_batchnorm, 9),
    "mlp": (bench_mlp, 7),
    "rbm": (bench_rbm, 7),
    "autoencoder": (bench_autoencoder, 5),
    "attention": (bench_attention, 9),
    "conv": (bench_conv, 7),
    "lstm": (bench_lstm, 7),
}


def main() -> None:
    run_named(__doc__.split("\n\n")[0], BENCHMARKS)


if __name__ == "__main__":
    scrub_blas_env()
    main()
