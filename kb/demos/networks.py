"""Demos that train small networks: backpropagation with a gradient check, batch normalisation
at a high learning rate, bottleneck adapters against full fine-tuning, and batch sizes."""

import copy
import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from kb.demos import datasets
from kb.demos.base import (
    Demo,
    DemoOutput,
    DemoParams,
    Source,
    check_unique,
    finite_or_nan,
    param,
)
from reference import activations, adapter, batchnorm, gradcheck, mlp, optim

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]

Activation = Literal["relu", "tanh", "sigmoid"]
OptimizerName = Literal["sgd", "adam"]


def _dataset(default: datasets.Dataset2D = "moons") -> Any:
    return param(default, "The generated 2-D, two-class dataset.")


def _noise(default: float = 0.1) -> Any:
    return param(default, "Std of the Gaussian noise added to the points.", ge=0.0, le=1.0)


def _cross_entropy(logits: FloatArray, y: IntArray) -> tuple[float, FloatArray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    log_p = activations.log_softmax(logits, axis=1)
    rows = np.arange(y.size)
    grad: FloatArray = np.exp(log_p)
    grad[rows, y] -= 1.0
    return -float(np.mean(log_p[rows, y])), grad / y.size


def _accuracy(logits: FloatArray, y: IntArray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _grid(x: FloatArray, steps: int = 60) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A grid covering the points of ``x`` with a margin, and its points as rows."""
    low, high = x.min(axis=0) - 0.3, x.max(axis=0) + 0.3
    xs, ys = np.meshgrid(np.linspace(low[0], high[0], steps), np.linspace(low[1], high[1], steps))
    return xs, ys, np.column_stack([xs.ravel(), ys.ravel()])


def _scatter(ax: "Axes", x: FloatArray, y: IntArray) -> None:
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=7, edgecolors="none", rasterized=True)


def _mlp_cost(sizes: list[int], rows: int) -> float:
    """Seconds for a forward and backward pass of an MLP over ``rows`` rows (fitted here)."""
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    return 40e-6 * len(sizes) + 3e-9 * rows * weights


# --- backpropagation ---------------------------------------------------------------------------


class BackpropParams(DemoParams):
    dataset: datasets.Dataset2D = _dataset()
    n_samples: int = param(300, "Points in the dataset (a quarter held out).", unit="samples",
                           ge=8, le=4_000)  # fmt: skip
    noise: float = _noise()
    hidden: list[Annotated[int, Field(ge=1, le=64)]] = Field(
        default=[16, 16], min_length=1, max_length=3,
        description="Units in each hidden layer.", json_schema_extra={"unit": "units"},
    )  # fmt: skip
    activation: Activation = param("tanh", "Hidden-layer activation.")
    epochs: int = param(40, "Passes over the training set.", unit="epochs", ge=1, le=2_000)
    batch_size: int = param(32, "Rows per update.", unit="samples", ge=1, le=4_000)
    optimizer: OptimizerName = param("adam", "The optimizer (reference.optim).")
    lr: float = param(0.01, "Learning rate.", unit="per step", gt=0.0, le=10.0)
    check_samples: int = param(
        16, "Rows used by the finite-difference gradient check.", unit="samples", ge=1, le=256
    )
    check_eps: float = param(1e-6, "Step of the central differences.", ge=1e-9, le=1e-2)


def _split(x: FloatArray, y: IntArray) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    cut = max(1, (3 * y.size) // 4)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _gradient_check(net: mlp.MLP, x: FloatArray, y: IntArray, eps: float) -> dict[str, float]:
    """max_relative_error of backprop against central differences, per parameter array."""
    _, analytic = net.loss_and_grads(x, y)
    errors = {}
    for i, (p, g) in enumerate(zip(net.params, analytic, strict=True)):
        numeric = gradcheck.numerical_gradient(
            lambda _: _cross_entropy(net.forward(x), y)[0], p, eps
        )
        errors[f"{'W' if i % 2 == 0 else 'b'}{i // 2}"] = gradcheck.max_relative_error(g, numeric)
    return errors


def run_backprop(p: BackpropParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x, y = datasets.classification_2d(p.dataset, p.n_samples, p.noise, rng)
    x_train, y_train, x_test, y_test = _split(x, y)
    net = mlp.MLP([2, *p.hidden, 2], activation=p.activation, seed=p.seed)
    check_rows = slice(0, min(p.check_samples, y_train.size))
    before = _gradient_check(net, x_train[check_rows], y_train[check_rows], p.check_eps)
    opt = (
        optim.Adam(net.params, lr=p.lr) if p.optimizer == "adam" else optim.SGD(net.params, lr=p.lr)
    )
    order_rng = np.random.default_rng([p.seed, 1])
    losses, accuracies = [], []
    with np.errstate(all="ignore"):
        for _ in range(p.epochs):
            order = order_rng.permutation(y_train.size)
            for start in range(0, y_train.size, p.batch_size):
                rows = order[start : start + p.batch_size]
                _, grads = net.loss_and_grads(x_train[rows], y_train[rows])
                opt.step(grads)
            loss, _ = net.loss_and_grads(x_train, y_train)
            losses.append(loss)
            accuracies.append(_accuracy(net.forward(x_train), y_train))
            if not math.isfinite(loss):
                break
        after = _gradient_check(net, x_train[check_rows], y_train[check_rows], p.check_eps)
        out = DemoOutput(
            metrics={
                "loss": losses[-1],
                "train_accuracy": accuracies[-1],
                "test_accuracy": _accuracy(net.forward(x_test), y_test) if y_test.size else None,
                "gradcheck.max_relative_error": max(after.values()),
                "gradcheck.max_relative_error_at_init": max(before.values()),
                **{f"gradcheck.{name}": error for name, error in after.items()},
                "parameters": sum(w.size for w in net.params),
            }
        )
        epochs = np.arange(1, len(losses) + 1)
        out.series["loss"] = np.column_stack([epochs, losses])
        out.series["accuracy"] = np.column_stack([epochs, accuracies])
        xs, ys, points = _grid(x)
        out.extras.update(
            x=x, y=y, grid=(xs, ys, net.predict_proba(points)[:, 1].reshape(xs.shape)),
            errors=after,
        )  # fmt: skip
    return out


def cost_backprop(p: BackpropParams) -> float:
    sizes = [2, *p.hidden, 2]
    n_train = max(1, (3 * p.n_samples) // 4)
    steps = p.epochs * math.ceil(n_train / p.batch_size)
    train = steps * _mlp_cost(sizes, min(p.batch_size, n_train)) + p.epochs * _mlp_cost(
        sizes, n_train
    )
    parameters = sum(a * b + b for a, b in itertools.pairwise(sizes))
    check = 2 * 2 * parameters * _mlp_cost(sizes, p.check_samples)
    return 0.01 + train + check


def plot_backprop(p: BackpropParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    ax = plots.axes(fig, 1, 3, 1, f"Decision boundary on {p.dataset}")
    xs, ys, prob = out.extras["grid"]
    ax.contourf(xs, ys, finite_or_nan(prob), levels=np.linspace(0, 1, 11), cmap="coolwarm",
                alpha=0.35, rasterized=True)  # fmt: skip
    _scatter(ax, out.extras["x"], out.extras["y"])
    ax2 = plots.axes(fig, 1, 3, 2, "Training loss and accuracy")
    plots.curve(ax2, out.series["loss"], "loss")
    plots.curve(ax2, out.series["accuracy"], "accuracy")
    ax2.set_xlabel("epoch")
    plots.legend(ax2)
    ax3 = plots.axes(fig, 1, 3, 3, "Gradient check: backprop vs finite differences")
    errors = out.extras["errors"]
    ax3.bar(list(errors), [max(float(e), 1e-18) for e in errors.values()])
    ax3.set_yscale("log")
    ax3.set_ylabel("max relative error")
    return fig


BACKPROP = Demo(
    slug="backpropagation",
    title="Backpropagation, checked against finite differences",
    terms=("backpropagation", "multilayer-perceptron"),
    description=(
        "Trains a small multilayer perceptron on a generated 2-D dataset (moons, circles or "
        "spirals) with gradients from backpropagation, and compares those gradients with "
        "central finite differences before and after training: the maximum relative error per "
        "weight matrix and bias (about 1e-8 or smaller means they agree; relu's kinks can "
        "raise it). Reports the loss and accuracy per epoch and the decision boundary."
    ),
    params=BackpropParams,
    run=run_backprop,
    plot=plot_backprop,
    sources=(
        Source("reference.mlp", "MLP.loss_and_grads", "backpropagation"),
        Source("reference.gradcheck", "numerical_gradient", "backpropagation"),
        Source("reference.gradcheck", "max_relative_error", "backpropagation"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_backprop,
    cost_drivers=("epochs", "n_samples", "hidden", "check_samples"),
    featured=("dataset", "hidden", "activation", "epochs"),
)


# --- batch normalisation -----------------------------------------------------------------------


@dataclass
class _DenseNet:
    """relu MLP with an optional batch normalisation before every hidden activation."""

    weights: list[FloatArray]
    biases: list[FloatArray]
    norms: list[batchnorm.BatchNorm] | None
    cache: list[tuple[FloatArray, FloatArray]] = field(default_factory=list)

    @classmethod
    def build(cls, sizes: list[int], normalise: bool, momentum: float, seed: int) -> "_DenseNet":
        rng = np.random.default_rng(seed)
        weights: list[FloatArray] = [
            rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out))
            for fan_in, fan_out in itertools.pairwise(sizes)
        ]
        biases: list[FloatArray] = [np.zeros(fan_out) for fan_out in sizes[1:]]
        norms = (
            [batchnorm.BatchNorm(w, momentum=momentum) for w in sizes[1:-1]] if normalise else None
        )
        return cls(weights, biases, norms)

    @property
    def params(self) -> list[FloatArray]:
        out = [*self.weights, *self.biases]
        for norm in self.norms or []:
            assert norm.weight is not None and norm.bias is not None
            out += [norm.weight, norm.bias]
        return out

    def train(self, mode: bool) -> None:
        for norm in self.norms or []:
            norm.train(mode)

    def forward(self, x: FloatArray) -> FloatArray:
        self.cache = []
        a = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ w + b
            if i < last:
                u = self.norms[i].forward(z) if self.norms else z
                self.cache.append((a, u))
                a = activations.relu(u)
            else:
                self.cache.append((a, z))
                a = z
        return a

    def backward(self, grad: FloatArray) -> list[FloatArray]:
        """Gradients in the order of ``params`` for the last ``forward``."""
        grad_w: list[FloatArray] = [np.empty(0)] * len(self.weights)
        grad_b: list[FloatArray] = [np.empty(0)] * len(self.weights)
        norm_grads: list[FloatArray] = []
        for i in reversed(range(len(self.weights))):
            a, u = self.cache[i]
            if i < len(self.weights) - 1:
                grad = activations.relu_backward(u, grad)
                if self.norms:
                    norm = self.norms[i]
                    grad = norm.backward(grad)
                    assert norm.grad_weight is not None and norm.grad_bias is not None
                    norm_grads = [norm.grad_weight, norm.grad_bias, *norm_grads]
            grad_w[i] = a.T @ grad
            grad_b[i] = grad.sum(axis=0)
            grad = grad @ self.weights[i].T
        return [*grad_w, *grad_b, *norm_grads]


class BatchNormParams(DemoParams):
    dataset: datasets.Dataset2D = _dataset("spirals")
    n_samples: int = param(512, "Points in the dataset.", unit="samples", ge=16, le=4_000)
    noise: float = _noise()
    hidden: int = param(32, "Units per hidden layer.", unit="units", ge=2, le=128)
    depth: int = param(4, "Hidden layers.", unit="layers", ge=1, le=6)
    lr: float = param(2.0, "SGD learning rate (high on purpose).", unit="per step", gt=0, le=10)
    steps: int = param(150, "SGD steps.", unit="steps", ge=1, le=5_000)
    batch_size: int = param(64, "Rows per step.", unit="samples", ge=2, le=1_024)
    momentum: float = param(0.1, "Batch norm's running-statistics momentum.", ge=0.0, le=1.0)
    eval_batch: int = param(
        8,
        "Batch size of the train-mode pass compared with the eval-mode pass: the smaller, the "
        "noisier the batch statistics.",
        unit="samples",
        ge=2,
        le=1_024,
    )


def _train_dense(
    net: _DenseNet, x: FloatArray, y: IntArray, p: BatchNormParams
) -> tuple[list[float], int | None]:
    opt = optim.SGD(net.params, lr=p.lr)
    rng = np.random.default_rng([p.seed, 1])  # both nets see the same batches
    losses: list[float] = []
    batch = min(p.batch_size, y.size)
    for step in range(p.steps):
        rows = rng.choice(y.size, batch, replace=False)
        net.train(True)
        loss, grad = _cross_entropy(net.forward(x[rows]), y[rows])
        losses.append(loss)
        if not math.isfinite(loss) or loss > 1e6:
            return losses, step
        opt.step(net.backward(grad))
    return losses, None


def run_batchnorm(p: BatchNormParams) -> DemoOutput:
    x, y = datasets.classification_2d(
        p.dataset, p.n_samples, p.noise, np.random.default_rng(p.seed)
    )
    sizes = [2, *[p.hidden] * p.depth, 2]
    out = DemoOutput(metrics={})
    nets = {}
    with np.errstate(all="ignore"):
        for name, normalise in (("with_bn", True), ("without_bn", False)):
            net = _DenseNet.build(sizes, normalise, p.momentum, p.seed)
            losses, diverged_at = _train_dense(net, x, y, p)
            net.train(False)
            logits = net.forward(x)
            out.metrics[f"{name}.final_loss"] = losses[-1]
            out.metrics[f"{name}.accuracy"] = _accuracy(logits, y)
            out.metrics[f"{name}.diverged"] = int(diverged_at is not None)
            out.series[f"loss/{name}"] = np.column_stack([np.arange(len(losses)), losses])
            nets[name] = net
        xs, ys, points = _grid(x)
        grids = {}
        for name, net in nets.items():
            net.train(False)
            grids[name] = activations.softmax(net.forward(points), axis=1)[:, 1].reshape(xs.shape)
        # Last, as a training-mode pass also moves the running statistics.
        bn = nets["with_bn"]
        eval_logits = bn.forward(x)
        bn.train(True)
        batch = min(p.eval_batch, y.size)
        train_logits = np.concatenate(
            [bn.forward(x[i : i + batch]) for i in range(0, y.size - batch + 1, batch)]
        )
        compared = train_logits.shape[0]
        margin_eval = eval_logits[:compared, 1] - eval_logits[:compared, 0]
        margin_train = train_logits[:, 1] - train_logits[:, 0]
        out.metrics["train_vs_eval.max_abs_difference"] = float(
            np.max(np.abs(margin_train - margin_eval))
        )
        out.metrics["train_vs_eval.prediction_agreement"] = float(
            np.mean((margin_train > 0) == (margin_eval > 0))
        )
        out.metrics["with_bn.accuracy_train_mode"] = _accuracy(train_logits, y[:compared])
        out.series["train_vs_eval"] = np.column_stack([margin_eval, margin_train])
        out.extras.update(x=x, y=y, grid=(xs, ys, grids))
    return out


def cost_batchnorm(p: BatchNormParams) -> float:
    sizes = [2, *[p.hidden] * p.depth, 2]
    per_step = _mlp_cost(sizes, p.batch_size) + 60e-6 * p.depth
    return 0.02 + 2 * p.steps * per_step + 2 * _mlp_cost(sizes, p.n_samples + 3600)


def plot_batchnorm(p: BatchNormParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(3)
    ax = plots.axes(fig, 1, 3, 1, f"Training loss at lr = {p.lr:g}")
    for name in ("with_bn", "without_bn"):
        plots.curve(ax, out.series[f"loss/{name}"], name.replace("_", " "))
    ax.set_xlabel("step")
    plots.log_scale_if_positive(ax, [out.series[f"loss/{n}"] for n in ("with_bn", "without_bn")])
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 3, 2, "Decision boundary (with BN, eval mode)")
    xs, ys, grids = out.extras["grid"]
    ax2.contourf(xs, ys, finite_or_nan(grids["with_bn"]), levels=np.linspace(0, 1, 11),
                 cmap="coolwarm", alpha=0.35, rasterized=True)  # fmt: skip
    _scatter(ax2, out.extras["x"], out.extras["y"])
    ax3 = plots.axes(fig, 1, 3, 3, f"Logit margin: train mode (batches of {p.eval_batch}) vs eval")
    pairs = finite_or_nan(out.series["train_vs_eval"])
    ax3.scatter(pairs[:, 0], pairs[:, 1], s=6, rasterized=True)
    finite = pairs[np.isfinite(pairs).all(axis=1)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        ax3.plot([low, high], [low, high], color="0.5", linewidth=0.8)
    ax3.set_xlabel("eval mode (running statistics)")
    ax3.set_ylabel("train mode (batch statistics)")
    return fig


BATCH_NORM = Demo(
    slug="batch-normalization",
    title="The same network with and without batch normalisation at a high learning rate",
    terms=("batch-normalization", "internal-covariate-shift"),
    description=(
        "Trains two copies of one relu network (same initial weights, same minibatches) with "
        "plain SGD at a deliberately high learning rate, one with batch normalisation before "
        "every hidden activation. Reports both loss curves and final accuracies, then compares "
        "the normalised network's outputs in training mode (statistics of small batches) with "
        "evaluation mode (running statistics)."
    ),
    params=BatchNormParams,
    run=run_batchnorm,
    plot=plot_batchnorm,
    sources=(
        Source("reference.batchnorm", "BatchNorm", "batch-normalization"),
        Source("reference.optim", "SGD", "stochastic-gradient-descent"),
        Source("reference.activations", "relu", "relu"),
    ),
    cost=cost_batchnorm,
    cost_drivers=("steps", "hidden", "depth", "batch_size", "n_samples"),
    featured=("dataset", "depth", "batch_size", "lr"),
)


# --- adapters ----------------------------------------------------------------------------------

Approach = Literal["full", "adapter", "head"]
APPROACHES: tuple[Approach, ...] = ("full", "adapter", "head")


class AdapterParams(DemoParams):
    dataset: datasets.Dataset2D = _dataset()
    n_samples: int = param(300, "Points per task.", unit="samples", ge=16, le=4_000)
    noise: float = _noise()
    shift: float = param(
        90.0, "The new task is the old one rotated by this angle.", unit="degrees",
        ge=0.0, le=180.0,
    )  # fmt: skip
    d_model: int = param(32, "Width of the two hidden layers.", unit="units", ge=2, le=128)
    bottleneck: int = param(4, "Adapter bottleneck size r.", unit="units", ge=1, le=64)
    adapter_activation: Literal["relu", "gelu", "tanh"] = param("relu", "Adapter non-linearity.")
    approaches: list[Approach] = Field(
        default=list(APPROACHES), min_length=1, max_length=3,
        description="full: fine-tune every weight; adapter: freeze the network and train a "
        "bottleneck adapter after the first hidden layer (and the output layer if train_head); "
        "head: train only the output layer.",
    )  # fmt: skip
    train_head: bool = param(True, "adapter: also train the output layer, as Houlsby et al.")
    pretrain_epochs: int = param(30, "Epochs on the original task.", unit="epochs", ge=1, le=500)
    epochs: int = param(30, "Fine-tuning epochs on the shifted task.", unit="epochs", ge=1, le=500)
    batch_size: int = param(32, "Rows per update.", unit="samples", ge=1, le=4_000)
    lr: float = param(0.01, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)

    @field_validator("approaches")
    @classmethod
    def _unique(cls, value: list[Approach]) -> list[Approach]:
        check_unique(value, "approaches")
        return value

    @model_validator(mode="after")
    def _bottleneck_fits(self) -> "AdapterParams":
        if self.bottleneck > self.d_model:
            raise ValueError("bottleneck must not exceed d_model")
        return self


@dataclass
class _Adapted:
    """A frozen two-hidden-layer MLP with an adapter after its first hidden layer."""

    base: mlp.MLP
    adapter: adapter.BottleneckAdapter
    cache: tuple[FloatArray, ...] = ()

    def forward(self, x: FloatArray) -> FloatArray:
        w0, b0, w1, b1, w2, b2 = self.base.params
        h1 = activations.tanh(x @ w0 + b0)
        adapted = self.adapter.forward(h1)
        z2 = adapted @ w1 + b1
        h2 = activations.tanh(z2)
        self.cache = (z2, h2)
        out: FloatArray = h2 @ w2 + b2
        return out

    def backward(self, grad: FloatArray) -> tuple[list[FloatArray], list[FloatArray]]:
        """(adapter gradients, output-layer gradients) for the last forward."""
        _, _, w1, _, w2, _ = self.base.params
        z2, h2 = self.cache
        head = [h2.T @ grad, grad.sum(axis=0)]
        dz2 = activations.tanh_backward(z2, grad @ w2.T)
        self.adapter.backward(dz2 @ w1.T)
        assert self.adapter.grads is not None
        return self.adapter.grads, head


def _epochs(x: FloatArray, y: IntArray, epochs: int, batch: int, seed: int) -> list[list[IntArray]]:
    rng = np.random.default_rng([seed, 2])
    return [
        [order[s : s + batch] for s in range(0, y.size, batch)]
        for order in (rng.permutation(y.size) for _ in range(epochs))
    ]


def run_adapter(p: AdapterParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x_a, y_a = datasets.classification_2d(p.dataset, p.n_samples, p.noise, rng)
    x_b = datasets.rotate(x_a, p.shift)
    y_b = y_a
    base = mlp.MLP([2, p.d_model, p.d_model, 2], activation="tanh", seed=p.seed)
    out = DemoOutput(metrics={"total_params": sum(w.size for w in base.params)})
    with np.errstate(all="ignore"):
        pretrain = base.fit(x_a, y_a, epochs=p.pretrain_epochs, batch_size=p.batch_size, lr=p.lr,
                            seed=p.seed)  # fmt: skip
        out.metrics["pretrained.task_a_loss"] = pretrain[-1]
        out.metrics["pretrained.task_b_loss"] = base.loss_and_grads(x_b, y_b)[0]
        out.metrics["pretrained.task_b_accuracy"] = _accuracy(base.forward(x_b), y_b)
        out.series["pretrain_loss"] = np.column_stack([np.arange(1, len(pretrain) + 1), pretrain])
        batches = _epochs(x_b, y_b, p.epochs, p.batch_size, p.seed)
        for approach in p.approaches:
            history, model_loss, trainable = _fine_tune(approach, base, x_b, y_b, batches, p)
            logits_b, loss_a = model_loss(x_b), model_loss(x_a, y_a)
            out.metrics[f"{approach}.trainable_params"] = trainable
            out.metrics[f"{approach}.final_loss"] = history[-1]
            out.metrics[f"{approach}.accuracy"] = _accuracy(logits_b, y_b)
            out.metrics[f"{approach}.task_a_loss"] = loss_a
            out.series[f"loss/{approach}"] = np.column_stack(
                [np.arange(1, len(history) + 1), history]
            )
    return out


class _Evaluate:
    """Logits of a fine-tuned model, or its loss when labels are given."""

    def __init__(self, forward: Any) -> None:
        self._forward = forward

    def __call__(self, x: FloatArray, y: IntArray | None = None) -> Any:
        logits = self._forward(x)
        return logits if y is None else _cross_entropy(logits, y)[0]


def _fine_tune(
    approach: Approach,
    base: mlp.MLP,
    x: FloatArray,
    y: IntArray,
    batches: list[list[IntArray]],
    p: AdapterParams,
) -> tuple[list[float], _Evaluate, int]:
    history: list[float] = []
    if approach == "full":
        net = copy.deepcopy(base)
        opt = optim.Adam(net.params, lr=p.lr)
        for epoch in batches:
            total = 0.0
            for rows in epoch:
                loss, grads = net.loss_and_grads(x[rows], y[rows])
                opt.step(grads)
                total += loss * rows.size
            history.append(total / y.size)
        return history, _Evaluate(net.forward), sum(w.size for w in net.params)
    frozen = copy.deepcopy(base)
    head = frozen.params[4:]
    if approach == "head":
        opt = optim.Adam(head, lr=p.lr)
        for epoch in batches:
            total = 0.0
            for rows in epoch:
                loss, grads = frozen.loss_and_grads(x[rows], y[rows])
                opt.step(grads[4:])
                total += loss * rows.size
            history.append(total / y.size)
        return history, _Evaluate(frozen.forward), sum(w.size for w in head)
    model = _Adapted(
        frozen, adapter.BottleneckAdapter(p.d_model, p.bottleneck, p.adapter_activation, p.seed)
    )
    trained = model.adapter.params + (head if p.train_head else [])
    opt = optim.Adam(trained, lr=p.lr)
    for epoch in batches:
        total = 0.0
        for rows in epoch:
            loss, grad = _cross_entropy(model.forward(x[rows]), y[rows])
            adapter_grads, head_grads = model.backward(grad)
            opt.step(adapter_grads + (head_grads if p.train_head else []))
            total += loss * rows.size
        history.append(total / y.size)
    return history, _Evaluate(model.forward), sum(w.size for w in trained)


def cost_adapter(p: AdapterParams) -> float:
    sizes = [2, p.d_model, p.d_model, 2]
    steps = math.ceil(p.n_samples / p.batch_size)
    per_step = _mlp_cost(sizes, min(p.batch_size, p.n_samples))
    pretrain = p.pretrain_epochs * steps * per_step
    tune = p.epochs * steps * len(p.approaches) * (per_step + 60e-6)
    return 0.01 + pretrain + tune


def plot_adapter(p: AdapterParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, f"Fine-tuning loss on the task rotated by {p.shift:g} deg")
    for approach in p.approaches:
        plots.curve(ax, out.series[f"loss/{approach}"], approach)
    ax.set_xlabel("epoch")
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 2, 2, "Trainable parameters")
    counts = [float(out.metrics[f"{a}.trainable_params"] or 0) for a in p.approaches]
    ax2.bar(list(p.approaches), counts)
    ax2.set_yscale("log")
    return fig


ADAPTER = Demo(
    slug="adapter-layers",
    title="A bottleneck adapter against full fine-tuning",
    terms=("adapter-layers", "parameter-efficient-fine-tuning", "fine-tuning"),
    description=(
        "Pre-trains a small tanh network on a 2-D task, then adapts it to the same task "
        "rotated by a chosen angle in up to three ways: fine-tuning every weight, freezing the "
        "network and training a bottleneck adapter (plus, optionally, the output layer), or "
        "training the output layer alone. Reports trainable parameter counts, final losses, "
        "accuracy on the new task and the loss on the original task afterwards."
    ),
    params=AdapterParams,
    run=run_adapter,
    plot=plot_adapter,
    sources=(
        Source("reference.adapter", "BottleneckAdapter", "adapter-layers"),
        Source("reference.mlp", "MLP", "multilayer-perceptron"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_adapter,
    cost_drivers=("epochs", "pretrain_epochs", "n_samples", "d_model", "approaches"),
    featured=("approaches", "bottleneck", "adapter_activation"),
)


# --- batch size --------------------------------------------------------------------------------


class BatchSizeParams(DemoParams):
    dataset: datasets.Dataset2D = _dataset()
    n_samples: int = param(256, "Points in the dataset.", unit="samples", ge=16, le=4_000)
    noise: float = _noise(0.2)
    batch_sizes: list[Annotated[int, Field(ge=1, le=4_000)]] = Field(
        default=[4, 16, 64, 256], min_length=1, max_length=6,
        description="Batch sizes to compare (each at most n_samples).",
        json_schema_extra={"unit": "samples"},
    )  # fmt: skip
    epochs: int = param(10, "Passes over the data for every batch size.", unit="epochs",
                        ge=1, le=200)  # fmt: skip
    hidden: int = param(16, "Hidden units of the one-hidden-layer MLP.", unit="units",
                        ge=1, le=64)  # fmt: skip
    optimizer: OptimizerName = param("sgd", "The optimizer (reference.optim).")
    lr: float = param(0.1, "Learning rate (of the smallest batch if scale_lr).", unit="per step",
                      gt=0.0, le=10.0)  # fmt: skip
    scale_lr: bool = param(
        False, "Scale the learning rate linearly with the batch size (from the smallest)."
    )
    noise_samples: int = param(
        128, "Rows whose per-example gradients estimate the gradient noise scale.",
        unit="samples", ge=2, le=1_024,
    )  # fmt: skip

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        check_unique(value, "batch_sizes")
        return sorted(value)

    @model_validator(mode="after")
    def _fits(self) -> "BatchSizeParams":
        if max(self.batch_sizes) > self.n_samples:
            raise ValueError("a batch size exceeds n_samples")
        return self


def _noise_scale(net: mlp.MLP, x: FloatArray, y: IntArray) -> float:
    """The simple gradient noise scale B = tr(Sigma) / |G|^2 of McCandlish et al. (2018), from
    per-example gradients: Sigma their covariance, G their mean."""
    per_example = np.array(
        [np.concatenate([g.ravel() for g in net.loss_and_grads(x[i : i + 1], y[i : i + 1])[1]])
         for i in range(y.size)]
    )  # fmt: skip
    mean = per_example.mean(axis=0)
    trace = float(np.sum(per_example.var(axis=0, ddof=1)))
    return trace / float(mean @ mean)


def run_batch_size(p: BatchSizeParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    x, y = datasets.classification_2d(p.dataset, p.n_samples, p.noise, rng)
    sizes = [2, p.hidden, 2]
    sample = slice(0, min(p.noise_samples, y.size))
    out = DemoOutput(metrics={})
    with np.errstate(all="ignore"):
        out.metrics["noise_scale.init"] = _noise_scale(
            mlp.MLP(sizes, "tanh", p.seed), x[sample], y[sample]
        )
        for batch in p.batch_sizes:
            net = mlp.MLP(sizes, "tanh", p.seed)
            lr = p.lr * batch / p.batch_sizes[0] if p.scale_lr else p.lr
            opt = (
                optim.Adam(net.params, lr=lr)
                if p.optimizer == "adam"
                else optim.SGD(net.params, lr=lr)
            )
            order_rng = np.random.default_rng([p.seed, 1])
            steps_per_epoch = math.ceil(y.size / batch)
            total = p.epochs * steps_per_epoch
            every = max(1, total // 100)
            seen, losses = [0.0], [net.loss_and_grads(x, y)[0]]
            step = 0
            diverged = False
            for _ in range(p.epochs):
                order = order_rng.permutation(y.size)
                for start in range(0, y.size, batch):
                    rows = order[start : start + batch]
                    opt.step(net.loss_and_grads(x[rows], y[rows])[1])
                    step += 1
                    if step % every == 0 or step == total:
                        seen.append(step / steps_per_epoch)
                        losses.append(net.loss_and_grads(x, y)[0])
                        diverged = not math.isfinite(losses[-1])
                    if diverged:
                        break
                if diverged:
                    break
            key = f"b={batch}"
            out.metrics[f"{key}.final_loss"] = losses[-1]
            out.metrics[f"{key}.accuracy"] = _accuracy(net.forward(x), y)
            out.metrics[f"{key}.steps"] = step
            out.metrics[f"{key}.lr"] = lr
            out.metrics[f"{key}.diverged"] = int(diverged)
            out.metrics[f"{key}.noise_scale_final"] = (
                None if diverged else _noise_scale(net, x[sample], y[sample])
            )
            out.series[f"loss/{key}"] = np.column_stack([seen, losses])
    return out


def cost_batch_size(p: BatchSizeParams) -> float:
    sizes = [2, p.hidden, 2]
    total = 0.0
    for batch in p.batch_sizes:
        steps = p.epochs * math.ceil(p.n_samples / batch)
        total += steps * (_mlp_cost(sizes, batch) + 20e-6) + 100 * _mlp_cost(sizes, p.n_samples)
    noise = (len(p.batch_sizes) + 1) * min(p.noise_samples, p.n_samples) * _mlp_cost(sizes, 1)
    return 0.01 + total + noise


def plot_batch_size(p: BatchSizeParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(2)
    ax = plots.axes(fig, 1, 2, 1, "Loss against epochs (examples seen)")
    curves = [out.series[f"loss/b={b}"] for b in p.batch_sizes]
    for batch, values in zip(p.batch_sizes, curves, strict=True):
        plots.curve(ax, values, f"batch {batch}")
    ax.set_xlabel("epoch")
    plots.legend(ax)
    ax2 = plots.axes(fig, 1, 2, 2, "Loss against update steps")
    for batch, values in zip(p.batch_sizes, curves, strict=True):
        pairs = finite_or_nan(values)
        steps_per_epoch = math.ceil(p.n_samples / batch)
        ax2.plot(pairs[:, 0] * steps_per_epoch, pairs[:, 1], label=f"batch {batch}")
    ax2.set_xscale("symlog", linthresh=1.0)
    ax2.set_xlabel("step")
    noise = out.metrics.get("noise_scale.init")
    if isinstance(noise, float) and math.isfinite(noise):
        ax2.set_title(f"Loss against steps (noise scale at init: {noise:.3g})")
    plots.legend(ax2)
    return fig


BATCH_SIZE = Demo(
    slug="batch-size",
    title="Batch sizes compared, with the gradient noise scale",
    terms=("batch-size", "mini-batch"),
    description=(
        "Trains the same one-hidden-layer network from the same start for the same number of "
        "epochs at several batch sizes, and estimates the simple gradient noise scale "
        "B = tr(Sigma) / |G|^2 (McCandlish et al., 2018) from per-example gradients at the "
        "start and at the end of each run. Batches much smaller than B gain almost linearly "
        "from more data per step; much larger ones waste it."
    ),
    params=BatchSizeParams,
    run=run_batch_size,
    plot=plot_batch_size,
    sources=(
        Source("reference.mlp", "MLP.loss_and_grads", "backpropagation"),
        Source("reference.optim", "SGD", "stochastic-gradient-descent"),
    ),
    cost=cost_batch_size,
    cost_drivers=("epochs", "batch_sizes", "n_samples", "noise_samples", "hidden"),
    featured=("batch_sizes", "scale_lr", "optimizer", "lr"),
)
