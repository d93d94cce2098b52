"""Small generated datasets for the demos: 2-D classification, Gaussian blobs, digit images,
bars and stripes.

Everything is drawn from ``numpy.random.Generator`` so a seed fixes the data.
"""

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.int64]

Dataset2D = Literal["moons", "circles", "spirals"]


def _split_counts(n: int, classes: int) -> list[int]:
    return [n // classes + (1 if i < n % classes else 0) for i in range(classes)]


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), centred."""
    upper, lower = _split_counts(n, 2)
    t_upper = rng.uniform(0.0, np.pi, upper)
    t_lower = rng.uniform(0.0, np.pi, lower)
    x = np.concatenate(
        [
            np.column_stack([np.cos(t_upper), np.sin(t_upper)]),
            np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)]),
        ]
    )
    x += rng.normal(0.0, noise, x.shape)
    x -= np.array([0.5, 0.25])
    y = np.concatenate([np.zeros(upper, np.int64), np.ones(lower, np.int64)])
    return x, y


def circles(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    """A disc inside a ring (radii 0.5 and 1)."""
    outer, inner = _split_counts(n, 2)
    angles = rng.uniform(0.0, 2 * np.pi, n)
    radii = np.concatenate([np.ones(outer), np.full(inner, 0.5)])
    x = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    x += rng.normal(0.0, noise, x.shape)
    y = np.concatenate([np.zeros(outer, np.int64), np.ones(inner, np.int64)])
    return x, y


def spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    """Two interleaved spirals of one and a half turns each."""
    counts = _split_counts(n, 2)
    parts, labels = [], []
    for label, count in enumerate(counts):
        t = np.sqrt(rng.uniform(0.0, 1.0, count)) * 3 * np.pi
        angle = t + label * np.pi
        r = t / (3 * np.pi)
        parts.append(np.column_stack([r * np.cos(angle), r * np.sin(angle)]))
        labels.append(np.full(count, label, np.int64))
    x = np.concatenate(parts)
    x += rng.normal(0.0, noise * 0.5, x.shape)
    return x, np.concatenate(labels)


def classification_2d(
    name: Dataset2D, n: int, noise: float, rng: np.random.Generator
) -> tuple[FloatArray, IntArray]:
    """A shuffled 2-D, two-class dataset of ``n`` points."""
    maker = {"moons": moons, "circles": circles, "spirals": spirals}[name]
    x, y = maker(n, noise, rng)
    order = rng.permutation(n)
    return x[order], y[order]


def blobs(
    n: int, centres: int, spread: float, rng: np.random.Generator, *, elongation: float = 1.0
) -> tuple[FloatArray, IntArray]:
    """``n`` 2-D points around ``centres`` random centres in [-5, 5]^2 (at least one point
    each), with their blob index.  Each blob is Gaussian with standard deviation ``spread``,
    stretched by up to ``elongation`` along a random direction (1: round blobs)."""
    middle = rng.uniform(-5.0, 5.0, (centres, 2))
    label = np.concatenate([np.arange(min(centres, n)), rng.integers(0, centres, n - centres)])
    label = label[:n].astype(np.int64)
    shapes = np.empty((centres, 2, 2))
    for k in range(centres):
        stretch = np.diag([rng.uniform(1.0, elongation), 1.0])
        shapes[k] = rotate(stretch, rng.uniform(0.0, 180.0))
    noise = np.einsum("nij,nj->ni", shapes[label], rng.normal(0.0, spread, (n, 2)))
    order = rng.permutation(n)
    return (middle[label] + noise)[order], label[order]


def rotate(x: FloatArray, degrees: float) -> FloatArray:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out: FloatArray = x @ rotation.T
    return out


# --- digits ------------------------------------------------------------------------------------

# Ten digits in a 5 x 7 pixel font, one string per row.
_GLYPHS = [
    ".###. #...# #..## #.#.# ##..# #...# .###.",
    "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    ".###. #...# ....# ..##. .#... #.... #####",
    ".###. #...# ....# ..##. ....# #...# .###.",
    "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "##### #.... ####. ....# ....# #...# .###.",
    "..##. .#... #.... ####. #...# #...# .###.",
    "##### ....# ...#. ..#.. .#... .#... .#...",
    ".###. #...# #...# .###. #...# #...# .###.",
    ".###. #...# #...# .#### ....# ...#. .##..",
]
DIGIT_SIDE = 8


def _glyph(digit: int) -> FloatArray:
    rows = _GLYPHS[digit].split()
    return np.array([[c == "#" for c in row] for row in rows], dtype=np.float64)


def digits(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    """8 x 8 grey-level digit images in [0, 1], flattened to 64 features (like scikit-learn's
    ``load_digits``): a 5 x 7 glyph at a random offset, random stroke intensity, a light blur
    and Gaussian pixel noise of standard deviation ``noise``."""
    labels = rng.integers(0, 10, n).astype(np.int64)
    images = np.zeros((n, DIGIT_SIDE, DIGIT_SIDE))
    glyphs = [_glyph(d) for d in range(10)]
    rows = rng.integers(0, DIGIT_SIDE - 7 + 1, n)
    cols = rng.integers(0, DIGIT_SIDE - 5 + 1, n)
    strength = rng.uniform(0.6, 1.0, n)
    for i, (digit, r, c) in enumerate(zip(labels, rows, cols, strict=True)):
        images[i, r : r + 7, c : c + 5] = glyphs[digit] * strength[i]
    blurred = images.copy()
    blurred[:, 1:, :] += 0.15 * images[:, :-1, :]
    blurred[:, :-1, :] += 0.15 * images[:, 1:, :]
    blurred[:, :, 1:] += 0.15 * images[:, :, :-1]
    blurred[:, :, :-1] += 0.15 * images[:, :, 1:]
    blurred += rng.normal(0.0, noise, blurred.shape)
    return np.clip(blurred, 0.0, 1.0).reshape(n, -1), labels


def low_rank(
    n: int, features: int, rank: int, noise: float, rng: np.random.Generator
) -> FloatArray:
    """Points near a random ``rank``-dimensional subspace of R^features, in [0, 1]-ish range."""
    basis = np.linalg.qr(rng.normal(size=(features, rank)))[0]
    codes = rng.normal(size=(n, rank)) * np.linspace(2.0, 0.5, rank)
    x: FloatArray = 0.5 + 0.15 * (codes @ basis.T) + rng.normal(0.0, noise, (n, features))
    return x


# --- bars and stripes --------------------------------------------------------------------------


def bars_and_stripes(side: int) -> FloatArray:
    """Every distinct ``side`` x ``side`` bars-and-stripes pattern (MacKay 2003), flattened:
    each row all 0 or all 1 (stripes), or each column (bars); 2^(side+1) - 2 patterns."""
    patterns: set[tuple[int, ...]] = set()
    for code in range(1 << side):
        bits = [(code >> i) & 1 for i in range(side)]
        stripes = np.repeat(np.array(bits)[:, None], side, axis=1)
        patterns.add(tuple(stripes.ravel().tolist()))
        patterns.add(tuple(stripes.T.ravel().tolist()))
    return np.array(sorted(patterns), dtype=np.float64)


def is_pattern(samples: FloatArray, patterns: FloatArray) -> NDArray[np.bool_]:
    """Which rows of ``samples`` are one of ``patterns``."""
    known = {tuple(p) for p in patterns.astype(np.int64).tolist()}
    return np.array([tuple(s) in known for s in samples.astype(np.int64).tolist()], dtype=bool)
