"""What the demos of issue 17 teach holds at their defaults (or cheaper settings): each test
states the lesson and checks it in the run's metrics."""

from kb.demos.convnets import CONVNET, ConvNetParams
from kb.demos.loss_functions import ROBUST, SMOOTHING, RobustParams, SmoothingParams
from kb.demos.normalization import NORMALIZATION, NormalizationParams
from kb.demos.regularization import DROPOUT, DropoutParams
from kb.demos.sequences import POSITIONAL, RECURRENT, PositionalParams, RecurrentParams


def test_convolution_finds_edges_and_a_tiny_cnn_beats_a_linear_model_on_shifted_digits() -> None:
    m = CONVNET.run(ConvNetParams(epochs=6)).metrics
    assert m["edges.mean_magnitude_near_strokes"] > 3 * m["edges.mean_magnitude_elsewhere"]
    assert m["conv_weight_gradient_check"] < 1e-6
    assert m["cnn.test_accuracy"] > m["linear.test_accuracy"]


def test_the_gradient_reaching_early_steps_vanishes_fastest_without_gates() -> None:
    m = RECURRENT.run(RecurrentParams(steps=0, length=30)).metrics
    rnn = m["rnn.first_over_last_gradient_at_init"]
    assert rnn < 1e-4
    assert m["lstm.first_over_last_gradient_at_init"] > 100 * rnn


def test_only_the_offset_matters_for_both_encodings() -> None:
    m = POSITIONAL.run(PositionalParams(length=101, d_model=32)).metrics
    assert m["sinusoidal.max_dot_spread_at_equal_offset"] < 1e-12
    assert m["rotary.max_score_spread_at_equal_offset"] < 1e-12
    assert m["rotary.max_norm_change"] < 1e-12


def test_per_sample_norms_ignore_the_batch_and_batch_norm_depends_on_it_less_as_it_grows() -> None:
    params = NormalizationParams(batch_sizes=[2, 8, 64], trials=20)
    m = NORMALIZATION.run(params).metrics
    spreads = [m[f"batch_norm.spread_at_batch_{size}"] for size in params.batch_sizes]
    assert spreads[0] > spreads[1] > spreads[2] > 0.05
    for size in params.batch_sizes:
        assert m[f"layer_norm.spread_at_batch_{size}"] < 1e-12
        assert m[f"rms_norm.spread_at_batch_{size}"] < 1e-12


def test_dropout_keeps_the_test_loss_lower_once_the_plain_network_overfits() -> None:
    m = DROPOUT.run(DropoutParams()).metrics
    assert m["p=0.final_train_loss"] < m["p=0.5.final_train_loss"]
    assert m["p=0.5.final_test_loss"] < m["p=0.final_test_loss"]


def test_bounded_derivatives_resist_outliers() -> None:
    m = ROBUST.run(RobustParams()).metrics
    assert m["huber.error"] < m["mse.error"] / 4
    assert m["l1.error"] < m["mse.error"] / 4
    clean = ROBUST.run(RobustParams(outlier_fraction=0.0)).metrics
    assert clean["mse.error"] < 0.2


def test_label_smoothing_keeps_the_logits_and_the_confidence_smaller() -> None:
    m = SMOOTHING.run(SmoothingParams(steps=150, smoothing=[0.0, 0.2])).metrics
    assert m["eps=0.2.weight_norm"] < m["eps=0.weight_norm"]
    assert m["eps=0.2.mean_confidence"] < m["eps=0.mean_confidence"]
    assert m["eps=0.2.mean_confidence"] <= 1 - 0.2 + 0.2 / 10 + 0.05
