"""The demos on the glossary's text (kb.demos.language): the model, the decoders, BPE."""

from pathlib import Path

import numpy as np

from kb.demos import corpus, language


def test_the_bigram_model_is_a_distribution_that_never_starts_or_names_rare_words() -> None:
    words, log_probs = language.bigram_model(1_500, 0.01)
    assert words[:3] == (language.BOS, language.EOS, language.UNKNOWN) and len(words) == 1_503
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=1), 1.0)
    assert np.all(np.isneginf(log_probs[:, [0, 2]]))
    index = {w: i for i, w in enumerate(words)}
    # Common glossary phrases are likely.
    assert log_probs[index["neural"], index["network"]] > np.log(0.1)


def test_decoders_on_the_glossary_model() -> None:
    out = language.run_decoding(language.DecodingParams(beam_width=1, top_p=1.0, top_k=5))
    assert out.extras["beam"][0][0] == out.extras["greedy"]
    assert out.metrics["prompt_words_used"] == 6
    assert out.metrics["next_token.nonzero_candidates"] == 5
    probability = np.asarray(out.series["next_token/probability"])
    assert np.all(np.diff(probability) <= 0)


def test_bpe_shortens_words_as_merges_grow() -> None:
    out = language.run_bpe(language.BPEParams(num_merges=60))
    for name in ("train", "held_out"):
        curve = np.asarray(out.series[f"tokens_per_word/{name}"])
        assert curve[0, 0] == 0 and curve[-1, 0] == 60
        assert np.all(np.diff(curve[:, 1]) < 0)
    # With no merge a word is its letters and </w>.
    summaries = [s for i, (s, _) in enumerate(corpus.glossary()) if i % 5]
    counts = language._word_counts(summaries)
    letters = sum(n * (len(w) + 1) for w, n in counts.items()) / sum(counts.values())
    assert np.asarray(out.series["tokens_per_word/train"])[0, 1] == letters


def test_the_shipped_corpus_is_the_glossary_of_this_checkout() -> None:
    """The demos learn from kb/demos/glossary_corpus.json: regenerate it with
    ``python -m kb.demos.corpus data`` when the glossary changes."""
    built = corpus.build(Path(__file__).resolve().parents[2] / "data" / "terms")
    assert list(corpus.glossary()) == built
