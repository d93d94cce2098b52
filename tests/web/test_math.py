"""Every formula of the glossary in data/ typesets with the KaTeX the site serves, in strict
mode: the pages render with ``throwOnError: false``, which would show a broken formula as red
TeX source instead of failing. Needs Node.js (on every machine this project runs on)."""

import json
import shutil
import subprocess
from pathlib import Path

from kb.content import read_glossary
from kb.web.render import flat_tokens

ROOT = Path(__file__).resolve().parents[2]
KATEX = ROOT / "kb" / "web" / "static" / "katex" / "katex.min.js"
CHECK = Path(__file__).with_name("katex_check.js")


def _refused(formulas: list[tuple[str, str, bool]]) -> list[str]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run KaTeX: install the nodejs package"
    result = subprocess.run(
        [node, str(CHECK), str(KATEX)],
        input=json.dumps(formulas),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.splitlines()


def test_every_formula_of_the_glossary_typesets() -> None:
    formulas = [
        (term.slug, token.content, token.type == "math_block")
        for term in read_glossary(ROOT / "data").terms
        for token in flat_tokens(term.body)
        if token.type.startswith("math")
    ]
    assert len(formulas) > 1000
    assert _refused(formulas) == []


def test_a_broken_formula_is_reported() -> None:
    refused = _refused(
        [("a", r"\frac{1", False), ("b", r"\notacommand x", True), ("c", "x^2", False)]
    )
    assert [line.split(":")[0] for line in refused] == ["a", "b"]
