"""BERT's tokenizer: basic tokenization, then greedy longest-match WordPiece.

References: J. Devlin, M.-W. Chang, K. Lee, K. Toutanova, "BERT: Pre-training of Deep
Bidirectional Transformers for Language Understanding", NAACL 2019, arXiv:1810.04805
(sec. 3 and appendix A); Y. Wu et al., "Google's Neural Machine Translation System", 2016,
arXiv:1609.08144 (the WordPiece model, sec. 4.1).

For a text ``s`` the tokens are

    [CLS]  wordpiece(w_1) ... wordpiece(w_n)  [SEP]

where the words ``w_i`` come from the basic tokenizer: control characters dropped, white
space unified, CJK ideographs spaced out, accents stripped (NFD, then the non-spacing marks
removed) and the text lowercased one character at a time; then split at white space and
around every punctuation character (Unicode category P*, and all ASCII punctuation). WordPiece
splits a word greedily into the longest prefix in the vocabulary, then the longest
``##``-continuation, and so on; a word that cannot be split completely, or that is longer than
100 characters, is ``[UNK]``. A special token written literally in the text (``[SEP]``,
``[MASK]``, ...) is that token, as in the ``tokenizers`` library.

The peer is the ``tokenizers`` library's ``BertWordPieceTokenizer`` on the same vocabulary, with
truncation at ``max_length`` (which counts ``[CLS]`` and ``[SEP]``). Character classes come from
Python's ``unicodedata``; the peer's Rust tables may be of another Unicode version, so the two
can differ on recently assigned characters only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from os import PathLike
from pathlib import Path

__all__ = ["SPECIAL_TOKENS", "WordPieceTokenizer"]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_INPUT_CHARS_PER_WORD = 100

# Unicode's White_Space property (Rust's char::is_whitespace), which Python's str.isspace
# widens by U+001C..U+001F.
_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The CJK Unified Ideographs blocks and their extensions, as BERT defines "Chinese characters".
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _is_cjk(c: str) -> bool:
    code = ord(c)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(c: str) -> bool:
    return c in _ASCII_PUNCTUATION or unicodedata.category(c).startswith("P")


def _clean(c: str) -> str:
    """One character after clean-up, CJK spacing, accent stripping and lowercasing, with every
    punctuation character in the result set apart by spaces."""
    if c in "\t\n\r":
        return " "
    if c in "\x00\ufffd" or unicodedata.category(c).startswith("C"):
        return ""  # control characters (and format, private-use, unassigned ones) go
    if c in _WHITESPACE:
        return " "
    decomposed = unicodedata.normalize("NFD", c)
    lowered = "".join(d.lower() for d in decomposed if unicodedata.category(d) != "Mn")
    spaced = "".join(f" {d} " if _is_punctuation(d) else d for d in lowered)
    return f" {spaced} " if _is_cjk(c) else spaced


class _Cleaned(dict[int, str]):
    """A ``str.translate`` table that works each character out once, when first met."""

    def __missing__(self, code: int) -> str:
        self[code] = _clean(chr(code))
        return self[code]


_CLEANED = _Cleaned()


def _words(text: str) -> list[str]:
    """The basic tokenizer: normalised text split at white space and around punctuation."""
    return [word for word in text.translate(_CLEANED).split(" ") if word]


class WordPieceTokenizer:
    """``encode(text)``: the ids of ``[CLS] ... [SEP]``, at most ``max_length`` of them."""

    def __init__(
        self, vocab_path: str | PathLike[str], lowercase: bool = True, max_length: int = 256
    ) -> None:
        if not lowercase:
            raise ValueError("lowercase: only the uncased tokenizer (lowercase=True) is provided")
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 ([CLS] and [SEP]), got {max_length}")
        lines = Path(vocab_path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.vocab: dict[str, int] = {}
        for index, line in enumerate(lines):
            self.vocab.setdefault(line.rstrip(), index)
        missing = [t for t in ("[UNK]", "[CLS]", "[SEP]") if t not in self.vocab]
        if missing:
            raise ValueError(f"vocab_path: {vocab_path} lacks the special tokens {missing}")
        self.lowercase = lowercase
        self.max_length = max_length
        specials = [t for t in SPECIAL_TOKENS if t in self.vocab]
        self._special = re.compile("(" + "|".join(map(re.escape, specials)) + ")")
        self._wordpiece = lru_cache(maxsize=65536)(self._split_word)

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, without ``[CLS]``, ``[SEP]`` and truncation."""
        tokens: list[str] = []
        for i, part in enumerate(self._special.split(text)):
            if i % 2:
                tokens.append(part)
            else:
                for word in _words(part):
                    tokens.extend(self._wordpiece(word))
        return tokens

    def encode(self, text: str) -> list[int]:
        """The ids of ``[CLS] tokens [SEP]``, the tokens cut to ``max_length - 2``."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        tokens = self.tokenize(text)[: self.max_length - 2]
        return [self.vocab["[CLS]"], *(self.vocab[t] for t in tokens), self.vocab["[SEP]"]]

    def _split_word(self, word: str) -> tuple[str, ...]:
        if len(word) > MAX_INPUT_CHARS_PER_WORD:
            return ("[UNK]",)
        pieces = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return ("[UNK]",)
        return tuple(pieces)
