"""The rules a term must satisfy beyond its own fields, and how each violation is worded.

``kb check`` (files, ``kb.content``) and the write API (``kb.editing``) apply the same rules
and so report the same messages; only where the other side of a clash lives differs (a file,
or a term in the database), and each passes that in.
"""

from collections.abc import Iterable

from pydantic_core import ErrorDetails

from kb.demos import registry
from kb.relations import Relation
from kb.schemas import LinkIn, TermIn

Loc = tuple[str | int, ...]


def own_problems(term: TermIn) -> list[tuple[Loc, str]]:
    """What is wrong with ``term`` on its own: an alias that repeats its slug or name, a
    related list that names a term twice or the term itself."""
    problems: list[tuple[Loc, str]] = []
    own = {lookup_key(term.slug), lookup_key(term.name)}
    for i, alias in enumerate(term.aliases):
        if lookup_key(alias) in own:
            problems.append(
                (("aliases", i), f"alias {alias!r} repeats this term's own slug or name")
            )
    listed: dict[str, Relation] = {}
    for i, link in enumerate(term.related):
        if link.term in listed:
            first = listed[link.term]
            message = f"{link.term!r} is listed twice"
            if first is not link.relation:
                message += f" with conflicting relations {first.value!r} and"
                message += f" {link.relation.value!r}"
            problems.append((("related", i, "relation"), message))
        elif link.term == term.slug:
            problems.append((("related", i, "term"), "a term cannot be related to itself"))
        listed.setdefault(link.term, link.relation)
    return problems


def links_to_others(term: TermIn) -> list[tuple[int, LinkIn]]:
    """The entries of ``term.related`` that the cross-term checks look at: each other term's
    first entry (repeats and self links are ``own_problems``)."""
    seen = {term.slug}
    entries = []
    for i, link in enumerate(term.related):
        if link.term not in seen:
            entries.append((i, link))
            seen.add(link.term)
    return entries


def validation_message(error: ErrorDetails) -> str:
    """pydantic's message for a field, in the words of the data format."""
    if error["type"] == "extra_forbidden":
        return "unknown key (check its spelling against the data format)"
    if error["type"] == "missing":
        return "required field is missing"
    return error["msg"]


def taken(text: str, owner: str) -> str:
    return f"{text!r} is already the slug, name or alias of term {owner!r}"


def unknown_term(slug: str) -> str:
    return f"links to unknown term {slug!r}"


def unknown_category(slug: str, known: Iterable[str]) -> str:
    listed = ", ".join(sorted(known)) or "none yet"
    return f"unknown category {slug!r} (known categories: {listed})"


def unknown_demo(slug: str) -> str:
    return f"unknown demo {slug!r} (registered demos: {', '.join(registry.slugs())})"


def demo_problem(term: TermIn) -> tuple[Loc, str] | None:
    if term.demo is not None and registry.get(term.demo) is None:
        return ("demo",), unknown_demo(term.demo)
    return None


def conflicting_relation(
    target: str, relation: Relation, where: str, declared: tuple[str, Relation, str]
) -> str:
    source, declared_relation, declared_target = declared
    return (
        f"conflicting relation with {target!r}: declared here as {relation.value!r} but in"
        f" {where} as {source} {declared_relation.value} {declared_target}"
    )


def broader_cycle(chain: list[str]) -> str:
    return f"'broader' links form a cycle: {' -> '.join(chain)}"


def format_loc(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def lookup_key(name: str) -> str:
    """The form in which slugs, names and aliases are matched: case-insensitive, trimmed,
    runs of white space as one space, control characters dropped (no name has one, and
    PostgreSQL refuses NUL in text)."""
    if not name.isprintable():  # a quick test first: deleting nothing cost 2 us a name
        name = name.translate(_CONTROL_CHARACTERS)
    return " ".join(name.split()).casefold()


_CONTROL_CHARACTERS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])
