"""Reading served HTML in tests: strict HTML5 parsing, the links a page makes, and the
accessibility basics that can be read from the markup."""

import itertools
import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit
from xml.etree.ElementTree import Element

import html5lib

NS = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
FIELDS = ("input", "select", "textarea")


def parse(text: str) -> Element:
    """The document, or an error naming the first parse error (html5lib's strict mode)."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    document: Element = parser.parse(text)
    return document


def tag(element: Element) -> str:
    return element.tag.removeprefix(NS)


@dataclass(frozen=True)
class Link:
    url: str
    kind: str  # "a", "script", "stylesheet", "img", "other"
    resource: bool  # loaded by the page itself, not followed by a person


def links(document: Element, page_url: str) -> list[Link]:
    found = []
    for element in document.iter():
        name = tag(element)
        target = None
        if name == "a" and element.get("href"):
            target, kind, resource = element.get("href"), "a", False
        elif name == "link" and element.get("href"):
            rel = element.get("rel", "")
            kind = "stylesheet" if "stylesheet" in rel else "other"
            target, resource = element.get("href"), "stylesheet" in rel or "icon" in rel
        elif name in ("script", "img") and element.get("src"):
            target, kind, resource = element.get("src"), name, True
        if target is not None:
            found.append(Link(urldefrag(urljoin(page_url, target)).url, kind, resource))
    return found


def css_urls(css: str, css_url: str) -> list[str]:
    return [urljoin(css_url, u.strip("'\"")) for u in re.findall(r"url\(([^)]+)\)", css)]


def is_internal(url: str, root: str) -> bool:
    return urlsplit(url).netloc in ("", urlsplit(root).netloc)


def heading_levels(document: Element) -> list[int]:
    return [
        int(tag(e)[1])
        for e in document.iter()
        if re.fullmatch(r"h[1-6]", tag(e)) and not _hidden(e, document)
    ]


def _hidden(element: Element, document: Element) -> bool:
    # html5lib's tree has no parent links: a heading is hidden if an ancestor has `hidden`.
    parents = {child: parent for parent in document.iter() for child in parent}
    node: Element | None = element
    while node is not None:
        if node.get("hidden") is not None:
            return True
        node = parents.get(node)
    return False


def outline_problems(levels: list[int]) -> list[str]:
    """Exactly one h1, first; no level skipped on the way down."""
    problems = []
    if levels.count(1) != 1 or (levels and levels[0] != 1):
        problems.append(f"want one h1, first: {levels}")
    for before, after in itertools.pairwise(levels):
        if after > before + 1:
            problems.append(f"h{before} is followed by h{after}")
    return problems


def unlabelled_fields(document: Element) -> list[str]:
    """Form fields without a label: <label for>, an enclosing <label>, or aria-label(ledby)."""
    labelled = {e.get("for") for e in document.iter(f"{NS}label")}
    inside_label = {
        field
        for label in document.iter(f"{NS}label")
        for field in label.iter()
        if field is not label
    }
    missing = []
    for element in document.iter():
        if tag(element) not in FIELDS or element.get("type") in ("hidden", "submit"):
            continue
        if element.get("aria-label") or element.get("aria-labelledby"):
            continue
        if element.get("id") in labelled or element in inside_label:
            continue
        missing.append(element.get("name") or element.get("id") or tag(element))
    return missing


def images_without_text(document: Element) -> list[str]:
    """<img> without alt; <svg> that is neither hidden nor named."""
    missing = [e.get("src", "?") for e in document.iter(f"{NS}img") if not e.get("alt")]
    for svg in document.iter(f"{SVG}svg"):
        if svg.get("aria-hidden") == "true":
            continue
        named = svg.get("aria-label") or svg.get("aria-labelledby")
        if not named and svg.find(f"{SVG}title") is None:
            missing.append("svg")
    return missing


def duplicate_ids(document: Element) -> list[str]:
    ids = [e.get("id") for e in document.iter() if e.get("id") is not None]
    return sorted({i for i in ids if ids.count(i) > 1})
