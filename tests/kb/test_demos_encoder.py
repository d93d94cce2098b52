"""The sentence-embedding demo (kb.demos.encoder): its lesson with the real encoder, its
parameters, and its error without the model."""

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from kb.demos import encoder
from kb.demos.base import DemoOutput
from kb.demos.worker import Job, execute

PARAPHRASES = [(0, 1), (2, 3), (4, 5)]
"""The default text is three pairs of paraphrases on unrelated topics."""


@pytest.fixture
def with_model(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KB_MODEL_DIR", str(model_dir))
    return model_dir


def _similarity(out: DemoOutput) -> np.ndarray:
    n = int(out.metrics["sentences"])  # type: ignore[arg-type]
    return np.array([out.series[f"similarity/{i + 1}"] for i in range(n)])


def test_paraphrases_are_nearer_than_unrelated_sentences(with_model: Path) -> None:
    out = encoder.run_embedding(encoder.EmbeddingParams())
    sim = _similarity(out)
    assert sim.shape == (6, 6)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-5)
    np.testing.assert_allclose(sim, sim.T, atol=1e-6)
    pairs = {frozenset(p) for p in PARAPHRASES}
    paraphrase = [sim[i, j] for i, j in PARAPHRASES]
    unrelated = [sim[i, j] for i in range(6) for j in range(i + 1, 6) if {i, j} not in pairs]
    assert min(paraphrase) > max(unrelated) + 0.2
    # Each sentence's nearest neighbour is its paraphrase.
    assert np.asarray(out.series["nearest"]).tolist() == [2, 1, 4, 3, 6, 5]
    assert out.metrics["least_similar.cosine"] == pytest.approx(float(np.min(unrelated)))


def test_token_counts_are_the_wordpiece_tokens(with_model: Path) -> None:
    text = "Tokenization splits words.\nUnbelievable!"
    out = encoder.run_embedding(encoder.EmbeddingParams(text=text))
    tokenizer = encoder.load_encoder(with_model).tokenizer
    expected = [len(tokenizer.tokenize(s)) for s in ("Tokenization splits words.", "Unbelievable!")]
    assert np.asarray(out.series["tokens"]).tolist() == expected
    assert out.metrics["tokens.total"] == sum(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Only one sentence here.", "found 1"),
        (" ".join(f"Sentence {i}." for i in range(9)), "found 9"),
        ("Short one. " + "x" * 201 + ".", r"sentences \[2\] are longer than 200"),
    ],
)
def test_text_outside_the_bounds_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        encoder.EmbeddingParams(text=text)


def test_sentences_split_at_ends_and_line_breaks() -> None:
    assert encoder.split_sentences("A b. C d? E!\n\nF\n") == ["A b.", "C d?", "E!", "F"]
    assert encoder.split_sentences("3.5 is a number. Yes") == ["3.5 is a number.", "Yes"]


def test_without_the_model_a_run_says_to_fetch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_MODEL_DIR", str(tmp_path / "absent"))
    result = execute(Job(run=encoder.run_embedding, params=encoder.EmbeddingParams()))
    assert not result["ok"]
    assert "ModelMissing" in result["error"] and "kb model fetch" in result["error"]
    assert str(tmp_path / "absent") in result["error"]
