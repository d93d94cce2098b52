"""The glossary's own text, shipped with the demos that learn from it (decoding, byte-pair
encoding), so they run the same in an installed package that has no ``data/`` beside it.

``python -m kb.demos.corpus [DATA_DIR]`` rewrites the shipped file from the glossary files; a test
fails when it is out of date.
"""

import json
import re
import sys
from functools import cache
from pathlib import Path

CORPUS = Path(__file__).with_name("glossary_corpus.json")

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.S)
_SUMMARY = re.compile(r"^summary: >-\n((?:  .+\n)+)", re.M)


def build(terms_dir: Path) -> list[tuple[str, str]]:
    """(summary, body) of every term file, in file-name order, with the math left out."""
    out = []
    for path in sorted(terms_dir.glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        found = _SUMMARY.search(front)
        summary = " ".join(found.group(1).split()) if found else ""
        out.append((_MATH.sub(" ", summary), _MATH.sub(" ", body)))
    return out


@cache
def glossary() -> tuple[tuple[str, str], ...]:
    """The shipped (summary, body) pairs."""
    pairs = json.loads(CORPUS.read_text(encoding="utf-8"))
    return tuple((summary, body) for summary, body in pairs)


def write(terms_dir: Path) -> int:
    pairs = build(terms_dir)
    CORPUS.write_text(json.dumps(pairs, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    return len(pairs)


if __name__ == "__main__":
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    print(f"{write(data / 'terms')} terms written to {CORPUS}")
