"""The rules a term must satisfy beyond its own fields, and how each violation is worded.

``kb check`` (files, ``kb.content``) and the write API (``kb.editing``) apply the same rules
and so report the same messages; only where the other side of a clash lives differs (a file,
or a term in the database), and each passes that in.
"""

import difflib
import re
import unicodedata
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


def taken(text: str, owner: str, label: str | None = None) -> str:
    """``text`` clashes with ``label``, a slug, name or alias of term ``owner``."""
    message = f"{text!r} is already the slug, name or alias of term {owner!r}"
    if label is not None and lookup_key(label) != lookup_key(text):
        message += (
            f" (as {label!r}: look-ups ignore case, accents, spaces, hyphens, underscores,"
            " apostrophes and a plural 's')"
        )
    return message


def unknown_term(slug: str) -> str:
    return f"links to unknown term {slug!r}"


def unknown_category(slug: str, known: Iterable[str]) -> str:
    listed = ", ".join(sorted(known)) or "none yet"
    return f"unknown category {slug!r} (known categories: {listed})"


def unknown_demo(slug: str) -> str:
    """Names the closest registered demos, not all of them: there are dozens, and a list that
    long would be cut short in an API error."""
    slugs = registry.slugs()
    close = difflib.get_close_matches(slug, slugs, n=3, cutoff=0.4)
    hint = f"closest: {', '.join(close)}; " if close else ""
    return f"unknown demo {slug!r} ({hint}{len(slugs)} registered, listed by GET /api/v1/demos)"


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


def linked_to_broader_term(link: tuple[str, Relation, str], lower: str, upper: str) -> str:
    """``link`` joins ``lower`` to ``upper``, which its ``broader`` chain already reaches."""
    source, relation, target = link
    return (
        f"the link {source} {relation.value} {target} joins {lower!r} to {upper!r}, one of its"
        " broader terms: SKOS lets no term be related to its own broader terms (the 'broader'"
        " chain already connects them); drop the link"
    )


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

# What people type between or inside words without meaning a different term: white space,
# hyphens and dashes, underscores, apostrophes (straight, curly, modifier letter) and accents'
# stand-ins (acute, grave).
_SEPARATORS = re.compile(r"[\s\-_'`\u00b4\u2010-\u2015\u2212\u2018\u2019\u02bc]+")


def prefix_key(text: str) -> str:
    """``text`` as look-ups compare it, before the plural is folded: case, accents, white
    space, hyphens, underscores and apostrophes dropped ("Fréchet-inception distance" ->
    "frechetinceptiondistance"). Type-ahead matches the start of names in this form."""
    decomposed = unicodedata.normalize("NFKD", lookup_key(text))
    if not decomposed.isascii():  # ASCII has no accents: a load folds 350k names at 100k terms
        decomposed = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub("", decomposed)


def fold_key(name: str) -> str:
    """The key a slug, name or alias is looked up by: ``prefix_key`` with a plural "s" at the
    end folded too, so "learning rate schedule", "Learning-rate schedules", "bayes theorem"
    (Bayes' theorem) and "k means" all find their term. Two terms may not share a key.

    The plural rule is deliberately small and applied alike to stored names and queries, so
    it only has to be consistent, not good English: "-sses" loses "es" (processes -> process),
    any other "s" after a letter other than "s" is dropped (schedules -> schedule, and Bayes
    -> baye on both sides)."""
    key = prefix_key(name)
    if key.endswith("sses"):
        return key[:-2]
    if len(key) > 2 and key.endswith("s") and not key.endswith("ss"):
        return key[:-1]
    return key
