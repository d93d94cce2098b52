"""YAML scalars written by hand, in the style of the hand-written data files.

PyYAML's dumper cannot be told to write ``aliases`` as a flow list, ``related`` entries as flow
mappings and a summary as a folded block wrapped at the project's line length, all in one
document, so the data files are assembled line by line and only the scalars come from here.
A scalar is written plain only when it certainly reads back as the same string; anything else
is double-quoted with escapes, which YAML reads back exactly whatever the text.
"""

import re

import yaml

WIDTH = 100
"""Longest line of a folded block, as for the code: wrapped text stays readable in review."""

# The characters PyYAML accepts unescaped in a stream, less the ones it reads as line breaks
# (U+0085, U+2028, U+2029), the byte order mark and the tab (which is white space to YAML).
_PRINTABLE = "\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff"
_ALL_PRINTABLE = re.compile(f"[{_PRINTABLE}]*")
# Printable characters other than the two a double-quoted scalar must escape.
_UNESCAPED = re.compile(f'[^{_PRINTABLE}]|["\\\\]')
_ESCAPES = {
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
# A plain scalar may not start with an indicator; a conservative reading of YAML 1.1 section
# 9.1.3 that also refuses '-', '?' and ':' followed by a non-space, which YAML would allow.
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_INDICATORS = re.compile(r"[,\[\]{}:?]")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
# A folded block is wrapped only at single spaces between words, so that folding (which joins
# lines with one space) gives the text back; runs of spaces stay inside a line.
_WRAP_POINT = re.compile(r"(?<=\S) (?=\S)")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def quoted(text: str) -> str:
    """``text`` as a double-quoted scalar on one line."""
    return '"' + _UNESCAPED.sub(_escape, text) + '"'


def is_plain(text: str, *, flow: bool = False) -> bool:
    """Whether ``text`` reads back as itself when written unquoted (``flow``: inside ``[]``
    or ``{}``, where commas, brackets, colons and, to PyYAML, question marks end a scalar)."""
    return bool(
        text
        and text[0] not in _INDICATORS
        and not text[0].isspace()
        and not text[-1].isspace()
        and not text.endswith(":")
        and ": " not in text
        and " #" not in text
        and _ALL_PRINTABLE.fullmatch(text)
        and not (flow and _FLOW_INDICATORS.search(text))
        and _implicit_tag(text) == _STR
    )


def _implicit_tag(text: str) -> str:
    """What PyYAML makes of ``text`` unquoted: yes, no, on, null, ~, 1.5, 2015-01-01 and 1:20
    are not strings to it."""
    tag: str = _RESOLVER.resolve(  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        yaml.ScalarNode, text, (True, False)
    )
    return tag


def scalar(text: str, *, flow: bool = False) -> str:
    """``text`` plain where that is safe, else double-quoted."""
    return text if is_plain(text, flow=flow) else quoted(text)


def flow_list(items: list[str]) -> str:
    return "[" + ", ".join(scalar(item, flow=True) for item in items) + "]"


def folded(key: str, text: str, indent: int) -> list[str]:
    """``key: >-`` and ``text`` wrapped below it at ``WIDTH``; a text that a folded block
    cannot hold exactly (line breaks, control characters, a line that would read as the
    front matter's ``---`` end) goes on the key's line, double-quoted."""
    if not _ALL_PRINTABLE.fullmatch(text) or text != text.strip():
        return [f"{key}: {quoted(text)}"]
    lines: list[str] = []
    for word in _WRAP_POINT.split(text):
        if lines and len(lines[-1]) + 1 + len(word) <= WIDTH - indent:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if "---" in lines:
        return [f"{key}: {quoted(text)}"]
    pad = " " * indent
    return [f"{key}: >-", *(pad + line for line in lines)]
