"""The classical-ML reference implementations against scikit-learn, in the same run.

    .venv/bin/python bench/bench_classical.py kmeans     # reference.clustering.KMeans
    .venv/bin/python bench/bench_classical.py gmm        # reference.mixture.GaussianMixture
    .venv/bin/python bench/bench_classical.py logistic   # linear_models.LogisticRegression
    .venv/bin/python bench/bench_classical.py all

Options as bench_reference.py: ``--threads N`` (default 1, BLAS pinned for both sides),
``--repeats N``, ``--no-write``.  Both sides fit the same data from the same start (the same
initial centres, the same initial mixture parameters, zero weights), so they compute the same
result; the table shows how close it is next to the times.  Ratios are reference /
scikit-learn, repeat by repeat (median, min to max): below 1 means the reference is faster.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn.cluster
import sklearn.linear_model
import sklearn.mixture
from _common import Timings, environment_lines, interleaved, run_named, scrub_blas_env
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

from reference.clustering import KMeans
from reference.estimator import ConvergenceWarning
from reference.linear_models import LogisticRegression
from reference.mixture import GaussianMixture

PACKAGES = ("numpy", "scikit-learn", "threadpoolctl")


def times(timings: Timings) -> str:
    """The table cells: reference ms, scikit-learn ms, and their ratio repeat by repeat."""
    ratio = timings.ratio("reference", "sklearn")
    return (
        f"{timings.spread('reference').fmt(1e3, 1)} | {timings.spread('sklearn').fmt(1e3, 1)} | "
        f"{ratio[0]:.2f} ({ratio[1]:.2f} to {ratio[2]:.2f}) |"
    )


def blobs(n: int, d: int, k: int, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-4, 4, (k, d))
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))


def bench_kmeans(threads: int, repeats: int) -> str:
    lines = environment_lines("KMeans (Lloyd) vs scikit-learn", PACKAGES, threads)
    lines += [
        "- Gaussian blobs, float64; both from the same k initial centres (rows of X), "
        "`KMeans(init=centres, n_init=1, algorithm='lloyd')`, default tol 1e-4, max_iter 300",
        f"- {repeats} interleaved repeats; times per fit in ms",
        "",
        "| n x d, k | iterations (ref / sklearn) | inertia rel. diff | labels equal | "
        "reference ms | sklearn ms | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, d, k in ((2_000, 2, 5), (20_000, 10, 8), (100_000, 5, 16)):
        X = blobs(n, d, k)
        init = X[np.random.default_rng(1).choice(n, k, replace=False)]
        ours = KMeans(n_clusters=k, init=init)
        theirs = sklearn.cluster.KMeans(k, init=init, n_init=1, algorithm="lloyd")
        timings = interleaved(
            {"reference": lambda o=ours, X=X: o.fit(X), "sklearn": lambda t=theirs, X=X: t.fit(X)},
            repeats=repeats,
        )
        assert ours.inertia_ is not None
        lines.append(
            f"| {n:,} x {d}, {k} | {ours.n_iter_} / {theirs.n_iter_} | "
            f"{abs(ours.inertia_ - theirs.inertia_) / theirs.inertia_:.1e} | "
            f"{bool(np.array_equal(ours.labels_, theirs.labels_))} | "
            f"{times(timings)}"
        )
        print(lines[-1], flush=True)
    lines.append("")
    return "\n".join(lines)


def bench_gmm(threads: int, repeats: int) -> str:
    lines = environment_lines("GaussianMixture (EM) vs scikit-learn", PACKAGES, threads)
    lines += [
        "- Gaussian blobs, float64; both from the same weights_init, means_init and "
        "precisions_init (identity), tol 1e-3 (default), max_iter 100",
        f"- {repeats} interleaved repeats; times per fit in ms",
        "",
        "| n x d, K, covariance | iterations (ref / sklearn) | lower bound abs. diff | "
        "means max abs. diff | reference ms | sklearn ms | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for (n, d, k), kind in (
        ((2_000, 2, 4), "full"),
        ((20_000, 5, 5), "full"),
        ((20_000, 5, 5), "diag"),
        ((20_000, 5, 5), "tied"),
        ((20_000, 5, 5), "spherical"),
    ):
        X = blobs(n, d, k, seed=2)
        precisions = {
            "full": np.tile(np.eye(d), (k, 1, 1)),
            "tied": np.eye(d),
            "diag": np.ones((k, d)),
            "spherical": np.ones(k),
        }[kind]
        inits = {
            "weights_init": np.full(k, 1 / k),
            "means_init": X[np.random.default_rng(3).choice(n, k, replace=False)],
            "precisions_init": precisions,
        }
        ours = GaussianMixture(k, covariance_type=kind, **inits)  # type: ignore[arg-type]
        theirs = sklearn.mixture.GaussianMixture(k, covariance_type=kind, **inits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", SkConvergenceWarning)
            timings = interleaved(
                {
                    "reference": lambda o=ours, X=X: o.fit(X),
                    "sklearn": lambda t=theirs, X=X: t.fit(X),
                },
                repeats=repeats,
            )
        assert ours.lower_bound_ is not None and ours.means_ is not None
        lines.append(
            f"| {n:,} x {d}, {k}, {kind} | {ours.n_iter_} / {theirs.n_iter_} | "
            f"{abs(ours.lower_bound_ - theirs.lower_bound_):.1e} | "
            f"{float(np.max(np.abs(ours.means_ - theirs.means_))):.1e} | "
            f"{times(timings)}"
        )
        print(lines[-1], flush=True)
    lines.append("")
    return "\n".join(lines)


def bench_logistic(threads: int, repeats: int) -> str:
    lines = environment_lines("LogisticRegression vs scikit-learn (lbfgs)", PACKAGES, threads)
    lines += [
        "- Gaussian classes, float64, C = 1; reference: Newton's method; sklearn: L-BFGS "
        "(max_iter 10,000); the same tol for both (the largest gradient entry of the objective "
        "divided by C n); |dp| = largest difference of predicted probabilities",
        f"- {repeats} interleaved repeats; times per fit in ms",
        "",
        "| n x d, classes | tol | iterations (ref / sklearn) | max abs. dp | "
        "reference ms | sklearn ms | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, d, k in ((1_000, 5, 2), (20_000, 20, 2), (20_000, 20, 5), (5_000, 50, 10)):
        rng = np.random.default_rng(4)
        y = rng.integers(0, k, n)
        X = rng.standard_normal((k, d))[y] * 0.7 + rng.standard_normal((n, d))
        for tol in (1e-4, 1e-8):
            ours = LogisticRegression(tol=tol)
            theirs = sklearn.linear_model.LogisticRegression(tol=tol, max_iter=10_000)
            timings = interleaved(
                {
                    "reference": lambda o=ours, X=X, y=y: o.fit(X, y),
                    "sklearn": lambda t=theirs, X=X, y=y: t.fit(X, y),
                },
                repeats=repeats,
            )
            assert ours.n_iter_ is not None
            dp = float(np.max(np.abs(ours.predict_proba(X) - theirs.predict_proba(X))))
            lines.append(
                f"| {n:,} x {d}, {k} | {tol:g} | {ours.n_iter_[0]} / {theirs.n_iter_[0]} | "
                f"{dp:.1e} | {times(timings)}"
            )
            print(lines[-1], flush=True)
    lines.append("")
    return "\n".join(lines)


BENCHMARKS: dict[str, tuple[Callable[[int, int], str], int]] = {
    "kmeans": (bench_kmeans, 7),
    "gmm": (bench_gmm, 7),
    "logistic": (bench_logistic, 7),
}


if __name__ == "__main__":
    scrub_blas_env()
    run_named((__doc__ or "").split("\n\n")[0], BENCHMARKS)
