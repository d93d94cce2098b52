"""Demo of a convolutional network: fixed edge filters on a digit, then a tiny CNN trained on
shifted digits next to a linear model of the same pixels."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from kb.demos import datasets
from kb.demos.base import Demo, DemoOutput, DemoParams, Source, param
from reference import activations, conv, gradcheck, losses, optim

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]

SIDE = datasets.DIGIT_SIDE
# Sobel filters: a smoothed horizontal and vertical derivative (conv2d is a cross-correlation).
SOBEL = np.array(
    [[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]],
     [[[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]]]
)  # fmt: skip


class ConvNetParams(DemoParams):
    n_samples: int = param(400, "Digit images (a quarter held out).", unit="samples", ge=20,
                           le=4_000)  # fmt: skip
    noise: float = param(0.1, "Std of the Gaussian pixel noise.", ge=0.0, le=1.0)
    filters: int = param(8, "Convolution filters (output channels).", unit="filters", ge=1, le=32)
    kernel_size: int = param(3, "Side of each square filter.", unit="pixels", ge=1, le=5)
    pool: Literal["max", "avg"] = param("max", "2 x 2 pooling after the relu.")
    epochs: int = param(12, "Passes over the training images.", unit="epochs", ge=1, le=300)
    batch_size: int = param(32, "Images per Adam step.", unit="samples", ge=1, le=4_000)
    lr: float = param(0.01, "Adam learning rate.", unit="per step", gt=0.0, le=1.0)


@dataclass
class _TinyCNN:
    """conv2d ('same' padding) -> relu -> 2 x 2 pooling -> linear -> 10 logits."""

    weight: FloatArray
    bias: FloatArray
    w_out: FloatArray
    b_out: FloatArray
    pool: str

    @classmethod
    def build(cls, filters: int, kernel: int, pool: str, rng: np.random.Generator) -> "_TinyCNN":
        fan_in = kernel * kernel
        features = filters * (SIDE // 2) ** 2
        return cls(
            rng.uniform(-1, 1, (filters, 1, kernel, kernel)) / np.sqrt(fan_in),
            np.zeros(filters),
            rng.uniform(-1, 1, (features, 10)) / np.sqrt(features),
            np.zeros(10),
            pool,
        )

    @property
    def params(self) -> list[FloatArray]:
        return [self.weight, self.bias, self.w_out, self.b_out]

    def _pool(self, a: FloatArray) -> FloatArray:
        return conv.max_pool2d(a, 2) if self.pool == "max" else conv.avg_pool2d(a, 2)

    def forward(self, x: FloatArray) -> tuple[FloatArray, tuple[FloatArray, ...]]:
        pre = conv.conv2d(x, self.weight, self.bias, padding="same")
        hidden = activations.relu(pre)
        flat = self._pool(hidden).reshape(x.shape[0], -1)
        return flat @ self.w_out + self.b_out, (x, pre, hidden, flat)

    def grads(self, x: FloatArray, y: IntArray) -> tuple[float, list[FloatArray]]:
        logits, (x, pre, hidden, flat) = self.forward(x)
        loss = float(losses.cross_entropy(logits, y))
        g_logits = losses.cross_entropy_backward(1.0, logits, y)
        g_flat = (g_logits @ self.w_out.T).reshape(x.shape[0], -1, SIDE // 2, SIDE // 2)
        if self.pool == "max":
            g_hidden = conv.max_pool2d_backward(g_flat, hidden, 2)
        else:
            g_hidden = conv.avg_pool2d_backward(g_flat, hidden, 2)
        g_pre = activations.relu_backward(pre, g_hidden)
        _, g_weight, g_bias = conv.conv2d_backward(g_pre, x, self.weight, padding="same")
        return loss, [g_weight, g_bias, flat.T @ g_logits, g_logits.sum(axis=0)]


def _accuracy(logits: FloatArray, y: IntArray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _train(
    params: list[FloatArray], grads: Any, x: FloatArray, y: IntArray, p: ConvNetParams
) -> list[float]:
    """Adam on minibatches; the mean training loss of each epoch."""
    opt = optim.Adam(params, lr=p.lr)
    rng = np.random.default_rng([p.seed, 1])
    curve = []
    for _ in range(p.epochs):
        order = rng.permutation(y.size)
        epoch = []
        for start in range(0, y.size, p.batch_size):
            rows = order[start : start + p.batch_size]
            loss, g = grads(x[rows], y[rows])
            opt.step(g)
            epoch.append(loss)
        curve.append(float(np.mean(epoch)))
    return curve


def _linear_grads(
    w: FloatArray, b: FloatArray, x: FloatArray, y: IntArray
) -> tuple[float, list[FloatArray]]:
    flat = x.reshape(x.shape[0], -1)
    logits = flat @ w + b
    g = losses.cross_entropy_backward(1.0, logits, y)
    return float(losses.cross_entropy(logits, y)), [flat.T @ g, g.sum(axis=0)]


def run_convnet(p: ConvNetParams) -> DemoOutput:
    rng = np.random.default_rng(p.seed)
    pixels, y = datasets.digits(p.n_samples, p.noise, rng)
    x = pixels.reshape(-1, 1, SIDE, SIDE)
    cut = max(1, (3 * y.size) // 4)
    x_train, y_train, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
    out = DemoOutput(metrics={})
    with np.errstate(all="ignore"):
        edges = conv.conv2d(x[:1], SOBEL, padding=1)[0]
        magnitude = np.hypot(edges[0], edges[1])
        ink = x[0, 0] > 0.3
        out.metrics["edges.mean_magnitude_near_strokes"] = float(magnitude[_dilate(ink)].mean())
        out.metrics["edges.mean_magnitude_elsewhere"] = float(
            magnitude[~_dilate(ink)].mean() if (~_dilate(ink)).any() else 0.0
        )
        net = _TinyCNN.build(p.filters, p.kernel_size, p.pool, rng)
        check_rows = slice(0, min(8, cut))
        _, analytic = net.grads(x_train[check_rows], y_train[check_rows])
        numeric = gradcheck.numerical_gradient(
            lambda _: float(losses.cross_entropy(net.forward(x_train[check_rows])[0],
                                                 y_train[check_rows])),
            net.weight,
        )  # fmt: skip
        out.metrics["conv_weight_gradient_check"] = gradcheck.max_relative_error(
            analytic[0], numeric
        )
        cnn_curve = _train(net.params, net.grads, x_train, y_train, p)
        w_lin, b_lin = np.zeros((SIDE * SIDE, 10)), np.zeros(10)
        linear_curve = _train(
            [w_lin, b_lin], lambda a, b: _linear_grads(w_lin, b_lin, a, b), x_train, y_train, p
        )
        for name, curve, predict in (
            ("cnn", cnn_curve, lambda a: net.forward(a)[0]),
            ("linear", linear_curve, lambda a: a.reshape(a.shape[0], -1) @ w_lin + b_lin),
        ):
            out.metrics[f"{name}.final_loss"] = curve[-1]
            out.metrics[f"{name}.train_accuracy"] = _accuracy(predict(x_train), y_train)
            out.metrics[f"{name}.test_accuracy"] = (
                _accuracy(predict(x_test), y_test) if y_test.size else None
            )
            out.series[f"loss/{name}"] = np.column_stack([np.arange(1, len(curve) + 1), curve])
    out.metrics["cnn.parameters"] = sum(a.size for a in net.params)
    out.metrics["linear.parameters"] = w_lin.size + b_lin.size
    out.extras.update(digit=x[0, 0], edges=edges, filters=net.weight[:, 0])
    return out


def _dilate(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The mask grown by one pixel in every direction (a 3 x 3 max pooling, stride 1)."""
    grown = conv.max_pool2d(mask[None, None].astype(np.float64), 3, stride=1, padding=1)
    return np.asarray(grown[0, 0] > 0)


def cost_convnet(p: ConvNetParams) -> float:
    """Seconds, fitted on the development machine: Python per minibatch (both models), im2col
    and pooling per image and filter weight."""
    train = (3 * p.n_samples) // 4
    batches = -(-train // p.batch_size)
    per_image = 5e-6 + 1.5e-6 * p.filters * p.kernel_size**2
    return 0.06 + p.epochs * (batches * 1.4e-3 + train * per_image)


def plot_convnet(p: ConvNetParams, out: DemoOutput) -> "Figure":
    from kb.demos import plots

    fig = plots.figure(4, width=3.4)
    ax = plots.axes(fig, 1, 4, 1, "A digit")
    plots.image(ax, out.extras["digit"])
    ax2 = plots.axes(fig, 1, 4, 2, "Sobel edges |(Gx, Gy)| (conv2d)")
    edges = out.extras["edges"]
    magnitude = np.hypot(edges[0], edges[1])
    plots.image(ax2, magnitude / max(float(np.nanmax(magnitude)), 1e-12))
    ax3 = plots.axes(fig, 1, 4, 3, f"The {p.filters} learned filters")
    filters = out.extras["filters"]
    k = filters.shape[-1]
    columns = int(np.ceil(np.sqrt(len(filters))))
    rows = -(-len(filters) // columns)
    mosaic = np.full((rows * (k + 1), columns * (k + 1)), np.nan)
    scale = max(float(np.abs(filters).max()), 1e-12)
    for i, f in enumerate(filters):
        r, c = divmod(i, columns)
        mosaic[r * (k + 1) : r * (k + 1) + k, c * (k + 1) : c * (k + 1) + k] = 0.5 + f / (2 * scale)
    plots.image(ax3, mosaic)
    ax4 = plots.axes(fig, 1, 4, 4, "Training loss per epoch")
    for name in ("cnn", "linear"):
        plots.curve(ax4, out.series[f"loss/{name}"], name)
    ax4.set_xlabel("epoch")
    plots.legend(ax4)
    return fig


CONVNET = Demo(
    slug="convolutional-neural-network",
    title="Edges by convolution, and a tiny CNN against a linear model on shifted digits",
    terms=("convolutional-neural-network", "convolution", "pooling"),
    description=(
        "Convolves one 8 x 8 digit with the two Sobel filters (reference conv2d) and reports "
        "the mean edge magnitude near the strokes and elsewhere; then trains a tiny CNN (one "
        "convolution with 'same' padding, relu, 2 x 2 max or average pooling, a linear layer) "
        "and a linear softmax model on the same pixels with Adam, on digits drawn at random "
        "offsets, and reports their losses and train/test accuracies, their parameter counts, "
        "the learned filters, and a finite-difference check of the convolution's weight "
        "gradient."
    ),
    params=ConvNetParams,
    run=run_convnet,
    plot=plot_convnet,
    sources=(
        Source("reference.conv", "conv2d", "convolution"),
        Source("reference.conv", "conv2d_backward", "convolutional-neural-network"),
        Source("reference.conv", "max_pool2d", "pooling"),
        Source("reference.conv", "max_pool2d_backward", "pooling"),
        Source("reference.conv", "avg_pool2d", "pooling"),
        Source("reference.conv", "avg_pool2d_backward", "pooling"),
        Source("reference.losses", "cross_entropy", "cross-entropy-loss"),
        Source("reference.losses", "cross_entropy_backward", "cross-entropy-loss"),
        Source("reference.optim", "Adam", "adam-optimizer"),
    ),
    cost=cost_convnet,
    cost_drivers=("epochs", "n_samples", "filters", "kernel_size", "batch_size"),
)
