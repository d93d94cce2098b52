"""reference.tree.DecisionTreeClassifier against sklearn.tree.DecisionTreeClassifier.

Continuous random features make ties between candidate splits (where scikit-learn's random
feature order decides) vanishingly unlikely, so the two trees must be the same.
"""

from typing import Any

import numpy as np
import pytest
import sklearn.tree as sk

from reference.estimator import NotFittedError
from reference.tree import DecisionTreeClassifier


def data(seed: int, n: int, d: int, k: int, labels: Any = None) -> Any:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    score = X @ rng.standard_normal((d, k)) + 0.7 * rng.standard_normal((n, k))
    index = score.argmax(axis=1)
    return X, (index if labels is None else np.asarray(labels)[index])


CASES = [
    ("binary", *data(0, 200, 3, 2)),
    ("three_classes", *data(1, 240, 4, 3)),
    ("string_labels", *data(2, 200, 2, 3, ["b", "a", "c"])),
    ("one_feature", *data(3, 40, 1, 2)),
    ("single_class", data(4, 10, 2, 2)[0], np.zeros(10, dtype=int)),
]
SETTINGS = [
    {"max_depth": 3, "min_samples_leaf": 10},
    {"criterion": "entropy", "max_depth": 3},
    {"max_depth": 1},
    {"min_samples_split": 80},
    {"min_samples_leaf": 25, "criterion": "entropy"},
]


def sklearn_tree(X: Any, y: Any, settings: dict[str, Any]) -> Any:
    """scikit-learn's tree, after checking that its random feature order does not change it
    (the data has no tied candidate splits)."""
    trees = [sk.DecisionTreeClassifier(random_state=s, **settings).fit(X, y) for s in range(8)]
    for other in trees[1:]:
        np.testing.assert_array_equal(other.tree_.threshold, trees[0].tree_.threshold)
    return trees[0]


@pytest.mark.parametrize(("name", "X", "y"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    "settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())) or "default"
)
def test_grows_scikit_learns_tree(name: str, X: Any, y: Any, settings: dict[str, Any]) -> None:
    ours = DecisionTreeClassifier(**settings).fit(X, y)
    theirs = sklearn_tree(X, y, settings)
    assert ours.get_depth() == theirs.get_depth()
    assert ours.get_n_leaves() == theirs.get_n_leaves()
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, atol=1e-10)
    test = np.random.default_rng(9).standard_normal((200, X.shape[1])) * 1.5
    for points in (X, test):
        np.testing.assert_allclose(
            ours.predict_proba(points), theirs.predict_proba(points), atol=1e-12
        )
        np.testing.assert_array_equal(ours.predict(points), theirs.predict(points))


def test_fully_grown_on_one_feature() -> None:
    """Within a feature both take the first of tied thresholds: whole trees agree."""
    X, y = data(7, 60, 1, 3)
    for criterion in ("gini", "entropy"):
        ours = DecisionTreeClassifier(criterion=criterion).fit(X, y)  # type: ignore[arg-type]
        theirs = sk.DecisionTreeClassifier(criterion=criterion).fit(X, y)
        assert (ours.get_depth(), ours.get_n_leaves()) == (
            theirs.get_depth(),
            theirs.get_n_leaves(),
        )
        test = np.linspace(-3, 3, 301)[:, None]
        np.testing.assert_array_equal(ours.predict_proba(test), theirs.predict_proba(test))
        np.testing.assert_array_equal(ours.predict(X), y)  # grown to purity


def test_duplicate_rows_with_conflicting_labels_make_an_impure_leaf() -> None:
    X = np.array([[0.0], [0.0], [0.0], [1.0], [1.0]])
    y = np.array([0, 1, 1, 0, 0])
    ours = DecisionTreeClassifier().fit(X, y)
    theirs = sk.DecisionTreeClassifier().fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X))
    assert ours.get_n_leaves() == theirs.get_n_leaves() == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64(dtype: Any) -> None:
    X, y = data(5, 50, 3, 2)
    ours = DecisionTreeClassifier().fit(X.astype(dtype), y)
    theirs = sk.DecisionTreeClassifier(random_state=0).fit(X.astype(dtype), y)
    np.testing.assert_array_equal(ours.predict(X.astype(dtype)), theirs.predict(X.astype(dtype)))


def test_errors_name_the_argument() -> None:
    X, y = data(6, 20, 2, 2)
    for make, name in [
        (lambda: DecisionTreeClassifier(criterion="mse"), "criterion"),  # type: ignore[arg-type]
        (lambda: DecisionTreeClassifier(max_depth=0), "max_depth"),
        (lambda: DecisionTreeClassifier(min_samples_split=1), "min_samples_split"),
        (lambda: DecisionTreeClassifier(min_samples_leaf=0), "min_samples_leaf"),
        (lambda: DecisionTreeClassifier().fit(X, y[:5]), "y"),
        (lambda: DecisionTreeClassifier().fit(X, y).predict(X[:, :1]), "features"),
    ]:
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(NotFittedError):
        DecisionTreeClassifier().predict(X)
