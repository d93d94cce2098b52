"""Term bodies, Markdown with ``$...$`` / ``$$...$$`` math, to HTML.

Formulas are written out as escaped TeX in elements of class ``math`` (``math-display`` for
display style); ``static/math.js`` typesets them with the vendored KaTeX in the browser. Raw HTML
in a body stays text, so a glossary file can never inject markup into a page.
"""

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin

# A term page's own headings are h1 (the term) and h2 (its sections): a heading in a body
# ranks below the term, so the page's outline never skips a level.
_HEADING_SHIFT = 1


def _math(tag: str, display: bool) -> Any:
    css = "math math-display" if display else "math"

    def render(
        _self: Any, tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType
    ) -> str:
        html = f'<{tag} class="{css}">{escapeHtml(tokens[idx].content.strip())}</{tag}>'
        return html + "\n" if tag == "div" else html

    return render


def _heading(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    level = min(int(token.tag[1]) + _HEADING_SHIFT, 6)
    token.tag = f"h{level}"
    rendered: str = self.renderToken(tokens, idx, options, env)
    return rendered


def _parser() -> MarkdownIt:
    markdown = (
        MarkdownIt("commonmark", {"html": False})
        .enable("table")
        .use(dollarmath_plugin, double_inline=True)
    )
    # $$...$$ inside a paragraph is display math, but a <div> may not stand in a <p>.
    for rule, tag, display in (
        ("math_inline", "span", False),
        ("math_inline_double", "span", True),
        ("math_block", "div", True),
        ("math_block_label", "div", True),
    ):
        markdown.add_render_rule(rule, _math(tag, display))
    markdown.add_render_rule("heading_open", _heading)
    markdown.add_render_rule("heading_close", _heading)
    return markdown


MARKDOWN = _parser()
"""The one Markdown dialect of term bodies: ``kb check``'s tests validate with it too."""


def body_html(body: str) -> str:
    """The body as an HTML fragment, formulas left as TeX for KaTeX."""
    html: str = MARKDOWN.render(body)
    return html


def flat_tokens(body: str) -> list[Token]:
    """Every token of the parsed body, inline ones included, in document order."""
    return _walk(MARKDOWN.parse(body))


def formula_count(body: str) -> int:
    """How many formulas the body holds: each becomes one typeset ``.katex`` element."""
    return sum(1 for token in flat_tokens(body) if token.type.startswith("math"))


def _walk(tokens: Sequence[Token]) -> list[Token]:
    flat = []
    for token in tokens:
        flat.append(token)
        flat += _walk(token.children or [])
    return flat
