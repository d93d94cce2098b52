"""reference.wordpiece against the `tokenizers` library's BERT tokenizer, same vocabulary."""

import random
import unicodedata
from pathlib import Path

import pytest
from tokenizers import BertWordPieceTokenizer

from reference.wordpiece import WordPieceTokenizer

GLOSSARY = sorted((Path(__file__).parents[2] / "data" / "terms").glob("*.md"))
# Characters already assigned in Unicode 3.2 and in the same category now: the peer's Rust
# tables and Python's agree on them (they differ on recently assigned characters only).
_OLD = unicodedata.ucd_3_2_0
LONG_ASSIGNED = [
    c
    for c in map(chr, range(0x30000))
    if _OLD.category(c) not in ("Cn", "Cs") and _OLD.category(c) == unicodedata.category(c)
]


def _pair(vocab: Path, max_length: int) -> tuple[WordPieceTokenizer, BertWordPieceTokenizer]:
    peer = BertWordPieceTokenizer(str(vocab), lowercase=True)
    peer.enable_truncation(max_length)
    return WordPieceTokenizer(vocab, max_length=max_length), peer


@pytest.fixture(scope="module")
def vocab(model_dir: Path) -> Path:
    return model_dir / "vocab.txt"


@pytest.fixture(scope="module")
def pair(vocab: Path) -> tuple[WordPieceTokenizer, BertWordPieceTokenizer]:
    return _pair(vocab, 256)


def test_the_glossary_tokenizes_as_the_peer(
    pair: tuple[WordPieceTokenizer, BertWordPieceTokenizer],
) -> None:
    ours, peer = pair
    assert len(GLOSSARY) > 400
    for path in GLOSSARY:
        text = path.read_text(encoding="utf-8")
        assert ours.encode(text) == peer.encode(text).ids, path.name


@pytest.mark.parametrize("seed", range(4))
def test_generated_unicode_tokenizes_as_the_peer(
    pair: tuple[WordPieceTokenizer, BertWordPieceTokenizer], seed: int
) -> None:
    ours, peer = pair
    rng = random.Random(seed)
    ascii_bits = ["a", "b", "e", "ing", "[SEP]", "[MASK]", "[sep]", " ", "\t", "\n", ",", "-", "Σ"]
    for _ in range(500):
        text = "".join(
            rng.choice(LONG_ASSIGNED) if rng.random() < 0.6 else rng.choice(ascii_bits)
            for _ in range(rng.randint(0, 60))
        )
        assert ours.encode(text) == peer.encode(text).ids, ascii(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Dropout [SEP] randomly zeroes[MASK]units [sep] [CLS]x",
        "Café naïve résumé ÉCOLE Straße İstanbul ΣΑΣ",
        "東京大学 and 華 (a CJK compatibility ideograph)",
        "control\x00chars\ufffd\x85and\x0bspaces\u00a0\u3000here",
        "x" * 100 + " " + "y" * 101,
        "unaffable-ness: l2-regularised, pre-LN; $\\alpha$^2 {k}-means++",
    ],
)
def test_edge_cases_tokenize_as_the_peer(
    pair: tuple[WordPieceTokenizer, BertWordPieceTokenizer], text: str
) -> None:
    ours, peer = pair
    assert ours.encode(text) == peer.encode(text).ids


@pytest.mark.parametrize("max_length", [2, 3, 8, 64])
def test_max_length_counts_cls_and_sep(vocab: Path, max_length: int) -> None:
    ours, peer = _pair(vocab, max_length)
    text = GLOSSARY[0].read_text(encoding="utf-8")
    ids = ours.encode(text)
    assert ids == peer.encode(text).ids
    assert len(ids) == max_length
    assert ids[0] == ours.vocab["[CLS]"] and ids[-1] == ours.vocab["[SEP]"]


def test_bad_arguments_are_named(vocab: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_length"):
        WordPieceTokenizer(vocab, max_length=1)
    with pytest.raises(ValueError, match="lowercase"):
        WordPieceTokenizer(vocab, lowercase=False)
    (tmp_path / "v.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="vocab_path"):
        WordPieceTokenizer(tmp_path / "v.txt")
    with pytest.raises(ValueError, match="text"):
        WordPieceTokenizer(vocab).encode(b"bytes")  # type: ignore[arg-type]
