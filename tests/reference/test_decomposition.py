"""reference.decomposition.PCA against sklearn.decomposition.PCA."""

from typing import Any

import numpy as np
import pytest
import sklearn.decomposition as sk

from reference.decomposition import PCA
from reference.estimator import NotFittedError

TOL = 1e-10


def data(seed: int, n: int, d: int, rank: int | None = None) -> Any:
    rng = np.random.default_rng(seed)
    scales = np.geomspace(5, 0.2, d)  # well-separated variances: a unique basis
    X = rng.standard_normal((n, d)) * scales + rng.uniform(-3, 3, d)
    if rank is not None:
        X[:, rank:] = X[:, :rank] @ rng.standard_normal((rank, d - rank))
    return X


CASES = [
    ("tall", data(0, 80, 4)),  # scikit-learn's covariance_eigh solver
    ("square", data(1, 12, 6)),  # its full SVD solver
    ("wide", data(2, 5, 9)),
    ("duplicate_rows", np.repeat(data(3, 8, 3), 2, axis=0)),
]


def informative(model: Any) -> Any:
    """The components of non-negligible variance (the others are an arbitrary basis)."""
    keep = model.explained_variance_ > 1e-8 * model.explained_variance_[0]
    return keep


def close(a: Any, b: Any, tol: float = TOL) -> None:
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, float(np.max(np.abs(b)))))


@pytest.mark.parametrize(("name", "X"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("n_components", [None, 1, 2, 0.9])
@pytest.mark.parametrize("whiten", [False, True])
def test_pca(name: str, X: Any, n_components: Any, whiten: bool) -> None:
    ours = PCA(n_components=n_components, whiten=whiten).fit(X)
    theirs = sk.PCA(n_components=n_components, whiten=whiten).fit(X)
    assert ours.n_components_ == theirs.n_components_
    keep = informative(theirs)
    close(ours.components_[keep], theirs.components_[keep])  # type: ignore[index]
    close(ours.explained_variance_, theirs.explained_variance_)
    close(ours.explained_variance_ratio_, theirs.explained_variance_ratio_)
    close(ours.singular_values_, theirs.singular_values_)
    close(ours.mean_, theirs.mean_)
    Z = ours.transform(X + 0.5)
    close(Z[:, keep], theirs.transform(X + 0.5)[:, keep], 1e-8)
    close(ours.fit_transform(X)[:, keep], theirs.fit_transform(X)[:, keep], 1e-8)
    if keep.all():
        close(ours.inverse_transform(Z), theirs.inverse_transform(Z), 1e-8)


def test_full_rank_reconstruction_is_exact() -> None:
    X = data(4, 10, 3)
    model = PCA()
    np.testing.assert_allclose(model.inverse_transform(model.fit_transform(X)), X, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_the_dtype(dtype: Any) -> None:
    X = data(5, 20, 3).astype(dtype)
    model = PCA(n_components=2, whiten=True)
    assert model.fit_transform(X).dtype == dtype
    assert model.transform(X).dtype == dtype
    assert model.inverse_transform(model.transform(X)).dtype == dtype
    close(model.components_, sk.PCA(2).fit(X).components_, 1e-5)


def test_errors_name_the_argument() -> None:
    X = data(6, 10, 3)
    for make, name in [
        (lambda: PCA(n_components=0), "n_components"),
        (lambda: PCA(n_components=1.5), "n_components"),
        (lambda: PCA(n_components=4).fit(X), "n_components"),
        (lambda: PCA().fit(X[:1]), "X"),
        (lambda: PCA().fit(X).transform(X[:, :2]), "features"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(NotFittedError):
        PCA().transform(X)
