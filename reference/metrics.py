"""Evaluation metrics for classification and regression, matching ``sklearn.metrics`` (1.9).

References: C. J. van Rijsbergen, 1979, "Information Retrieval", 2nd ed., Butterworths, ch. 7
(precision, recall and the F-measure); T. Fawcett, 2006, "An introduction to ROC analysis",
Pattern Recognition Letters 27(8), doi:10.1016/j.patrec.2005.10.010 (ROC curves and AUC);
C. D. Manning, P. Raghavan, H. Schuetze, 2008, "Introduction to Information Retrieval",
Cambridge University Press, ch. 8 (precision-recall curves, average precision).

For one class c taken as positive, with TP_c, FP_c, FN_c the counts of true positives, false
positives and false negatives:

    precision_c = TP_c / (TP_c + FP_c),    recall_c = TP_c / (TP_c + FN_c),
    F_beta,c = (1 + beta^2) TP_c / ((1 + beta^2) TP_c + beta^2 FN_c + FP_c).

A zero denominator gives ``zero_division`` (0 with a warning for ``"warn"``, or 0, 1, nan).
``average="micro"`` sums the counts over the classes before dividing, ``"macro"`` averages the
per-class scores, ``"weighted"`` averages them weighted by the support TP_c + FN_c, ``None``
returns them, and ``"binary"`` reports the class ``pos_label`` only (two-class targets). nan
scores (``zero_division=nan``) are left out of an average.

A curve over the decision thresholds t, the distinct scores in decreasing order, counts
TP(t) = #{y = 1, s >= t} and FP(t) = #{y = 0, s >= t}; tied scores enter together.  ROC:
FPR = FP / N_-, TPR = TP / N_+, from (0, 0) at t = +inf; ``drop_intermediate`` drops the points
collinear with both neighbours along an axis.  AUC is the trapezoidal area under it.  Average
precision is AP = sum_k (R_k - R_{k-1}) P_k over the thresholds (no interpolation).

Log loss: -(1/n) sum_i sum_c [y_i = c] log p_ic, probabilities clipped to [eps, 1 - eps].
Regression: MSE = mean (y - hat y)^2, MAE = mean |y - hat y|,
R^2 = 1 - sum (y - hat y)^2 / sum (y - bar y)^2 (1 for a perfect fit, 0 if y is constant
and the fit is not perfect).
"""

import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "average_precision_score",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "log_loss",
    "mean_absolute_error",
    "mean_squared_error",
    "precision_recall_curve",
    "precision_recall_fscore_support",
    "precision_score",
    "r2_score",
    "recall_score",
    "roc_auc_score",
    "roc_curve",
]

FloatArray = NDArray[np.float64]
Average = Literal["binary", "micro", "macro", "weighted"] | None
ZeroDivision = Literal["warn"] | float
MultiOutput = Literal["raw_values", "uniform_average"] | ArrayLike

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined (a zero denominator) and was set by ``zero_division``."""


# --- inputs -----------------------------------------------------------------------------------


def _labels_1d(y: ArrayLike, name: str) -> NDArray[Any]:
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; at least one sample is required")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} holds continuous values; class labels are required")
    elif arr.dtype.kind not in "biuUSO":
        raise ValueError(f"{name} must hold class labels, got dtype {arr.dtype}")
    return arr


def _check_targets(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """The 1-D label arrays and their sorted union (scikit-learn's ``unique_labels``)."""
    t, p = _labels_1d(y_true, "y_true"), _labels_1d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {t.shape[0]} and {p.shape[0]}")
    if (t.dtype.kind in "USO") != (p.dtype.kind in "USO"):
        raise ValueError("y_true and y_pred mix string and number labels")
    return t, p, np.union1d(t, p)


def _check_zero_division(zero_division: ZeroDivision) -> float:
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, int | float) and (
        zero_division in (0, 1) or np.isnan(zero_division)
    ):
        return float(zero_division)
    raise ValueError(f"zero_division must be 'warn', 0, 1 or nan, got {zero_division!r}")


def _divide(
    numerator: FloatArray, denominator: FloatArray, zero_division: ZeroDivision, what: str
) -> FloatArray:
    """numerator / denominator, with ``zero_division`` where the denominator is 0."""
    zero = denominator == 0
    result = numerator / np.where(zero, 1.0, denominator)
    if np.any(zero):
        result[zero] = _check_zero_division(zero_division)
        if zero_division == "warn":
            warnings.warn(
                f"{what} is ill-defined (a zero denominator) and set to 0.0; use the "
                "zero_division parameter to control this",
                UndefinedMetricWarning,
                stacklevel=3,
            )
    return result


def _nanaverage(values: FloatArray, weights: FloatArray | None) -> float:
    keep = ~np.isnan(values)
    if not np.any(keep):
        return float("nan")
    if weights is None or weights[keep].sum() == 0:
        return float(np.mean(values[keep]))
    return float(np.average(values[keep], weights=weights[keep]))


# --- label metrics ----------------------------------------------------------------------------


def accuracy_score(y_true: ArrayLike, y_pred: ArrayLike, *, normalize: bool = True) -> float:
    """The fraction (or with ``normalize=False`` the number) of correctly predicted labels."""
    t, p, _ = _check_targets(y_true, y_pred)
    correct = t == p
    return float(np.mean(correct)) if normalize else float(np.sum(correct))


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    normalize: Literal["true", "pred", "all"] | None = None,
) -> NDArray[Any]:
    """C[i, j] = the number of samples of class ``labels[i]`` predicted as ``labels[j]``.

    Samples whose labels are not in ``labels`` are left out.  ``normalize`` divides by the row
    sums (``"true"``), the column sums (``"pred"``) or the total (``"all"``), 0/0 giving 0.
    """
    if normalize not in ("true", "pred", "all", None):
        raise ValueError(f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}")
    t, p, present = _check_targets(y_true, y_pred)
    if labels is None:
        lab = present
    else:
        lab = np.asarray(labels)
        if lab.size == 0:
            raise ValueError("labels should contain at least one label")
        if not np.any(np.isin(lab, t)):
            raise ValueError("at least one label in labels must be in y_true")
    t_index = (t[:, None] == lab[None, :]).argmax(axis=1)
    p_index = (p[:, None] == lab[None, :]).argmax(axis=1)
    keep = np.isin(t, lab) & np.isin(p, lab)
    cm = np.zeros((lab.size, lab.size), dtype=np.int64)
    np.add.at(cm, (t_index[keep], p_index[keep]), 1)
    if normalize is None:
        return cm
    total = {
        "true": cm.sum(axis=1, keepdims=True),
        "pred": cm.sum(axis=0, keepdims=True),
        "all": cm.sum(),
    }[normalize]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio: NDArray[np.float64] = np.nan_to_num(cm / total)
    return ratio


def precision_recall_fscore_support(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    beta: float = 1.0,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: Average = None,
    warn_for: tuple[str, ...] = ("precision", "recall", "f-score"),
    zero_division: ZeroDivision = "warn",
) -> tuple[Any, Any, Any, NDArray[np.int64] | None]:
    """Precision, recall, F-beta and support, per class (``average=None``) or averaged."""
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}")
    if not beta >= 0:
        raise ValueError(f"beta must be non-negative, got {beta}")
    _check_zero_division(zero_division)
    t, p, present = _check_targets(y_true, y_pred)
    if average == "binary":
        if present.size > 2:
            raise ValueError(
                "Target is multiclass but average='binary'; choose another average setting, "
                "one of (None, 'micro', 'macro', 'weighted')"
            )
        if pos_label not in present and present.size >= 2:
            raise ValueError(f"pos_label={pos_label!r} is not a valid label: not one of {present}")
        lab = np.asarray([pos_label])
    elif labels is None:
        lab = present
    else:
        lab = np.asarray(labels)
    is_true = t[:, None] == lab[None, :]
    is_pred = p[:, None] == lab[None, :]
    tp = np.sum(is_true & is_pred, axis=0).astype(np.float64)
    pred_sum = np.sum(is_pred, axis=0).astype(np.float64)
    true_sum = np.sum(is_true, axis=0)
    support = true_sum.astype(np.float64)
    if average == "micro":
        tp, pred_sum, support = (
            tp.sum(keepdims=True),
            pred_sum.sum(keepdims=True),
            support.sum(keepdims=True),
        )
    silent: ZeroDivision = 0.0 if zero_division == "warn" else zero_division

    def division(what: str) -> ZeroDivision:
        return zero_division if what in warn_for else silent

    precision = _divide(tp, pred_sum, division("precision"), "Precision")
    recall = _divide(tp, support, division("recall"), "Recall")
    if np.isposinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        beta2 = beta**2
        f_score = _divide(
            (1 + beta2) * tp, beta2 * support + pred_sum, division("f-score"), "F-score"
        )
    if average is None:
        return precision, recall, f_score, true_sum.astype(np.int64)
    weights = support if average == "weighted" else None
    return (
        _nanaverage(precision, weights),
        _nanaverage(recall, weights),
        _nanaverage(f_score, weights),
        None,
    )


def fbeta_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    beta: float,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: Average = "binary",
    zero_division: ZeroDivision = "warn",
) -> Any:
    """F-beta: the weighted harmonic mean of precision and recall, recall beta times as
    important as precision."""
    return precision_recall_fscore_support(
        y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label, average=average,
        warn_for=("f-score",), zero_division=zero_division,
    )[2]  # fmt: skip


def f1_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: Average = "binary",
    zero_division: ZeroDivision = "warn",
) -> Any:
    """F1 = 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall."""
    return fbeta_score(
        y_true, y_pred, beta=1.0, labels=labels, pos_label=pos_label, average=average,
        zero_division=zero_division,
    )  # fmt: skip


def precision_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: Average = "binary",
    zero_division: ZeroDivision = "warn",
) -> Any:
    """Precision TP / (TP + FP): the fraction of predicted positives that are positive."""
    return precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("precision",), zero_division=zero_division,
    )[0]  # fmt: skip


def recall_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: Average = "binary",
    zero_division: ZeroDivision = "warn",
) -> Any:
    """Recall TP / (TP + FN): the fraction of positives predicted positive."""
    return precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("recall",), zero_division=zero_division,
    )[1]  # fmt: skip


# --- score metrics: curves over the thresholds ------------------------------------------------


def _binary_counts(
    y_true: ArrayLike, y_score: ArrayLike, pos_label: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """FP(t), TP(t) and the thresholds t: the distinct scores in decreasing order."""
    t = _labels_1d(y_true, "y_true")
    s = np.asarray(y_score)
    if s.ndim != 1 or s.shape != t.shape:
        raise ValueError(f"y_score must be 1-D of the length of y_true, got shape {s.shape}")
    if s.dtype.kind not in "biuf" or not np.all(np.isfinite(s)):
        raise ValueError("y_score must hold finite numbers")
    classes = np.unique(t)
    if pos_label is None:
        binary = classes.dtype.kind not in "USO" and (
            set(classes.tolist()) <= {0, 1} or set(classes.tolist()) <= {-1, 1}
        )
        if not binary:
            raise ValueError(
                f"y_true takes values in {classes}; set pos_label, which can be inferred only "
                "for labels in {0, 1} or {-1, 1}"
            )
        pos_label = 1
    order = np.argsort(s, kind="stable")[::-1]
    s, positive = s[order], (t[order] == pos_label).astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(positive)[last]
    fps = 1.0 + last - tps
    return fps, tps, s[last]


def roc_curve(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    pos_label: Any = None,
    drop_intermediate: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(fpr, tpr, thresholds), from (0, 0) at threshold +inf; nan rates (and a warning) when a
    class is missing from ``y_true``."""
    fps, tps, thresholds = _binary_counts(y_true, y_score, pos_label)
    if drop_intermediate and fps.size > 2:
        keep = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds.astype(np.float64)]
    rates = []
    for counts, what in ((fps, "negative"), (tps, "positive")):
        if counts[-1] <= 0:
            warnings.warn(
                f"no {what} samples in y_true: that rate is undefined (nan)",
                UndefinedMetricWarning,
                stacklevel=2,
            )
            rates.append(np.full(counts.shape, np.nan))
        else:
            rates.append(counts / counts[-1])
    return rates[0], rates[1], thresholds


def roc_auc_score(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """The area under the ROC curve of a binary target (the larger label positive); nan, with a
    warning, when ``y_true`` holds one class."""
    classes = np.unique(_labels_1d(y_true, "y_true"))
    if classes.size > 2:
        raise ValueError(f"y_true must be binary, got {classes.size} classes")
    if classes.size != 2:
        warnings.warn(
            "only one class is present in y_true: ROC AUC is not defined",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    fpr, tpr, _ = roc_curve(y_true, y_score, pos_label=classes[1])
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def precision_recall_curve(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    pos_label: Any = None,
    drop_intermediate: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(precision, recall, thresholds), thresholds increasing; the last point is
    (precision 1, recall 0), with no threshold.  Without positives recall is 1 throughout."""
    fps, tps, thresholds = _binary_counts(y_true, y_score, pos_label)
    if drop_intermediate and fps.size > 2:
        keep = np.r_[True, (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.where(predicted != 0, tps / np.where(predicted != 0, predicted, 1.0), 0.0)
    if tps[-1] == 0:
        warnings.warn(
            "no positive class in y_true: recall is set to 1 for all thresholds",
            UserWarning,
            stacklevel=2,
        )
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision_score(y_true: ArrayLike, y_score: ArrayLike, *, pos_label: Any = 1) -> float:
    """AP = sum_k (R_k - R_{k-1}) P_k of a binary target, the class ``pos_label`` positive."""
    classes = np.unique(_labels_1d(y_true, "y_true"))
    if classes.size > 2:
        raise ValueError(f"y_true must be binary, got {classes.size} classes")
    if classes.size == 2 and pos_label not in classes:
        raise ValueError(f"pos_label={pos_label!r} is not a valid label: not one of {classes}")
    precision, recall, _ = precision_recall_curve(y_true, y_score, pos_label=pos_label)
    return max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))


def log_loss(
    y_true: ArrayLike,
    y_proba: ArrayLike | None = None,
    *,
    labels: ArrayLike | None = None,
    y_pred: ArrayLike | None = None,
) -> float:
    """Mean cross-entropy of predicted probabilities: columns are the sorted labels; a 1-D
    ``y_proba`` is the probability of the larger of two labels.

    ``y_pred`` is the name scikit-learn used before 1.9 (still accepted there, deprecated).
    """
    if (y_proba is None) == (y_pred is None):
        raise ValueError("pass the probabilities once, as y_proba (or the older name y_pred)")
    t = _labels_1d(y_true, "y_true")
    prob = np.asarray(y_proba if y_proba is not None else y_pred)
    if prob.dtype.kind not in "biuf":
        raise ValueError(f"y_proba must hold probabilities, got dtype {prob.dtype}")
    if prob.dtype not in (np.float32, np.float64):
        prob = prob.astype(np.float64)
    if prob.max() > 1:
        raise ValueError(f"y_proba contains values greater than 1: {prob.max()}")
    if prob.min() < 0:
        raise ValueError(f"y_proba contains values lower than 0: {prob.min()}")
    if prob.shape[0] != t.shape[0]:
        raise ValueError(
            f"y_true and y_proba have different lengths: {t.shape[0]}, {prob.shape[0]}"
        )
    if labels is None:
        classes = np.unique(t)
        if classes.size == 1:
            raise ValueError(
                f"y_true contains only one label ({classes[0]}); pass all the expected class "
                "labels in labels"
            )
    else:
        classes = np.unique(np.asarray(labels))
        if classes.size < 2:
            raise ValueError(f"labels needs at least two labels, got {classes}")
        if not np.all(np.isin(t, classes)):
            raise ValueError(f"y_true contains values {set(t) - set(classes)} not in labels")
    if prob.ndim == 1:
        prob = prob[:, None]
    if prob.shape[1] == 1:
        prob = np.concatenate([1 - prob, prob], axis=1)
    if prob.shape[1] != classes.size:
        raise ValueError(
            f"y_proba has {prob.shape[1]} columns but there are {classes.size} classes "
            f"({classes}); pass the labels explicitly in labels"
        )
    eps = np.finfo(prob.dtype).eps
    if not np.allclose(prob.sum(axis=1), 1, rtol=np.sqrt(eps), atol=0):
        warnings.warn("the y_proba rows do not sum to one", UserWarning, stacklevel=2)
    prob = np.clip(prob, eps, 1 - eps)
    index = np.searchsorted(classes, t)
    return float(-np.mean(np.log(prob[np.arange(t.size), index])))


# --- regression -------------------------------------------------------------------------------


def _regression_targets(
    y_true: ArrayLike, y_pred: ArrayLike, multioutput: Any, *, r2: bool = False
) -> tuple[FloatArray, FloatArray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    for arr, name in ((t, "y_true"), (p, "y_pred")):
        if arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2) or arr.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty 1-D or 2-D array of numbers")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and y_pred have different lengths: {t.shape[0]}, {p.shape[0]}")
    t2 = t.reshape(t.shape[0], -1).astype(np.float64)
    p2 = p.reshape(p.shape[0], -1).astype(np.float64)
    if t2.shape[1] != p2.shape[1]:
        raise ValueError(
            f"y_true and y_pred have different numbers of outputs: {t.shape}, {p.shape}"
        )
    if isinstance(multioutput, str):
        allowed = ("raw_values", "uniform_average") + (("variance_weighted",) if r2 else ())
        if multioutput not in allowed:
            raise ValueError(
                f"multioutput must be one of {allowed} or weights, got {multioutput!r}"
            )
    elif t2.shape[1] == 1:
        raise ValueError("multioutput weights are for multi-output targets only")
    elif np.shape(multioutput) != (t2.shape[1],):
        raise ValueError(f"multioutput weights must have shape ({t2.shape[1]},)")
    return t2, p2


def _combine(scores: FloatArray, multioutput: MultiOutput) -> Any:
    """Per-output scores as ``multioutput`` says (already checked by _regression_targets)."""
    if isinstance(multioutput, str):
        return scores if multioutput == "raw_values" else float(np.mean(scores))
    return float(np.average(scores, weights=np.asarray(multioutput, dtype=np.float64)))


def mean_squared_error(
    y_true: ArrayLike, y_pred: ArrayLike, *, multioutput: MultiOutput = "uniform_average"
) -> Any:
    """Mean of (y - hat y)^2 per output, combined by ``multioutput``."""
    t, p = _regression_targets(y_true, y_pred, multioutput)
    return _combine(np.mean((t - p) ** 2, axis=0), multioutput)


def mean_absolute_error(
    y_true: ArrayLike, y_pred: ArrayLike, *, multioutput: MultiOutput = "uniform_average"
) -> Any:
    """Mean of |y - hat y| per output, combined by ``multioutput``."""
    t, p = _regression_targets(y_true, y_pred, multioutput)
    return _combine(np.mean(np.abs(t - p), axis=0), multioutput)


def r2_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    multioutput: MultiOutput | Literal["variance_weighted"] = "uniform_average",
) -> Any:
    """Coefficient of determination 1 - SS_res / SS_tot per output (scikit-learn's
    ``force_finite``: 1 for a perfect fit, 0 for an imperfect fit of a constant target);
    nan, with a warning, for fewer than two samples."""
    t, p = _regression_targets(y_true, y_pred, multioutput, r2=True)
    if t.shape[0] < 2:
        warnings.warn(
            "R^2 is not well-defined with fewer than two samples",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    residual = np.sum((t - p) ** 2, axis=0)
    total = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    scores = np.ones(t.shape[1])
    valid = (residual != 0) & (total != 0)
    scores[valid] = 1 - residual[valid] / total[valid]
    scores[(residual != 0) & (total == 0)] = 0.0
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        return (
            float(np.average(scores, weights=total))
            if np.any(total != 0)
            else float(np.mean(scores))
        )
    return _combine(scores, multioutput)
