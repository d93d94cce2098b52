"""Plot helpers: matplotlib's object API, rendered to SVG (no pyplot, no GUI backend).

Only demo worker processes (and their fork server) import this module; the API process never
loads matplotlib. Importing it sets the house style once for the whole process.
"""

import io
from collections.abc import Iterable

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from kb.demos.base import finite_or_nan

matplotlib.use("Agg")
matplotlib.rcParams.update(
    {
        "font.size": 9.0,
        "axes.titlesize": 9.5,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.fontsize": 8.0,
        "legend.frameon": False,
        "svg.fonttype": "none",  # text stays text: smaller files, selectable labels
        "svg.hashsalt": "kb-demos",  # stable element ids: equal runs give equal files
    }
)


def figure(columns: int, *, width: float = 4.2, height: float = 3.4) -> Figure:
    """A one-row figure with room for ``columns`` panels (margins set by hand: a layout
    engine would double the rendering time)."""
    fig = Figure(figsize=(width * columns, height))
    FigureCanvasSVG(fig)
    fig.subplots_adjust(left=0.6 / (width * columns), right=1 - 0.25 / (width * columns),
                        bottom=0.15, top=0.88, wspace=0.32)  # fmt: skip
    return fig


def axes(fig: Figure, rows: int, columns: int, index: int, title: str) -> Axes:
    ax = fig.add_subplot(rows, columns, index)
    ax.set_title(title)
    return ax


def to_svg(fig: Figure) -> bytes:
    """The figure as an SVG document, without the creation date (equal runs, equal bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def curve(ax: Axes, values: ArrayLike, label: str) -> None:
    """A line of ``values`` (1-D, or (n, 2) pairs) with non-finite points left out."""
    arr = finite_or_nan(values)
    if arr.ndim == 2:
        ax.plot(arr[:, 0], arr[:, 1], label=label, linewidth=1.3)
    else:
        ax.plot(np.arange(arr.size), arr, label=label, linewidth=1.3)


def log_scale_if_positive(ax: Axes, series: Iterable[ArrayLike]) -> None:
    """Log y axis when every finite value is positive and they span over two decades."""
    values = [finite_or_nan(s) for s in series]
    ys = np.concatenate([v[:, -1] if v.ndim == 2 else v.ravel() for v in values])
    ys = ys[np.isfinite(ys)]
    if ys.size and ys.min() > 0 and ys.max() / ys.min() > 100:
        ax.set_yscale("log")


def legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def image(ax: Axes, pixels: ArrayLike, label: str | None = None) -> None:
    """A small grey image without ticks, e.g. an 8 x 8 digit."""
    ax.imshow(finite_or_nan(pixels), cmap="gray_r", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if label is not None:
        ax.set_ylabel(label, fontsize=8)


def decision_regions(
    ax: Axes,
    grid_x: ArrayLike,
    grid_y: ArrayLike,
    probability: ArrayLike,
    points: ArrayLike,
    labels: ArrayLike,
) -> None:
    """A two-class classifier over the plane: p(class 1) shaded on the grid (``probability`` of
    shape (len(grid_y), len(grid_x))), its 0.5 contour (the decision boundary) and the points
    coloured by class."""
    gx, gy = np.meshgrid(np.asarray(grid_x), np.asarray(grid_y))
    p = finite_or_nan(probability)
    ax.contourf(gx, gy, p, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu_r", alpha=0.35)
    if np.nanmin(p) < 0.5 < np.nanmax(p):
        ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.0)
    xy, y = finite_or_nan(points), np.asarray(labels)
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        ax.scatter(xy[y == label, 0], xy[y == label, 1], s=7, c=colour, edgecolors="none")
    ax.set_xlim(float(np.min(gx)), float(np.max(gx)))
    ax.set_ylim(float(np.min(gy)), float(np.max(gy)))
    ax.grid(False)


def warm_up() -> None:
    """Render one figure that uses what the demos use (fonts, mathtext tick labels, contours,
    images), so that a process forked afterwards finds those caches filled."""
    fig = figure(3)
    ax = axes(fig, 1, 3, 1, "warm-up")
    ax.plot([1.0, 2.0, 3.0], [1e-3, 1.0, 1e3], label="line")
    ax.set_yscale("log")
    ax.set_xlabel("x")
    legend(ax)
    ax2 = axes(fig, 1, 3, 2, "warm-up")
    xs, ys = np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 20))
    ax2.contour(xs, ys, xs**2 + ys**2, levels=np.geomspace(0.01, 2, 5))
    ax2.contourf(xs, ys, xs * ys, levels=5, alpha=0.3)
    ax2.scatter([0.0], [0.0], s=4)
    ax2.set_xscale("symlog", linthresh=1.0)
    ax3 = axes(fig, 1, 3, 3, "warm-up")
    image(ax3, np.zeros((4, 4)), "image")
    fig.colorbar(ax3.images[0], ax=ax3)
    ax3.bar(["a"], [1.0])
    to_svg(fig)
