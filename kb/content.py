"""Read and validate the glossary files in a data directory (no database here).

Every problem is collected, not just the first, each naming the file, the line where one is
known, the field and what is wrong, so one ``kb check`` run shows everything to fix.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kb import rules
from kb.relations import Relation, canonical_link
from kb.rules import Loc, fold_key, format_loc
from kb.schemas import CategoryIn, TermIn

CATEGORIES_FILE = "categories.yaml"
TERMS_DIR = "terms"


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class StoredLink:
    source: str
    relation: Relation
    target: str


@dataclass
class Glossary:
    """A validated data directory: what ``kb load`` writes."""

    categories: list[CategoryIn]
    terms: list[TermIn]
    links: list[StoredLink]
    version: str


class ContentError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class _Source:
    """One parsed file: its data and the line of every key and list item in it."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def _index_lines(node: yaml.Node, offset: int, loc: Loc, out: dict[Loc, int]) -> None:
    out.setdefault(loc, node.start_mark.line + offset)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                out[(*loc, key.value)] = key.start_mark.line + offset
                _index_lines(value, offset, (*loc, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, offset, (*loc, i), out)


def _parse_yaml(path: str, text: str, first_line: int) -> _Source | Problem:
    """Parse YAML that starts at ``first_line`` (1-based) of its file."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + first_line
        reason = getattr(exc, "problem", None) or str(exc)
        return Problem(path, line, None, f"malformed YAML: {reason}")
    source = _Source(path, data)
    if node is not None:
        _index_lines(node, first_line, (), source.lines)
    return source


def _split_front_matter(path: str, text: str) -> tuple[_Source, str] | Problem:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return Problem(
            path, 1, None, "a term file must start with a '---' line (YAML front matter)"
        )
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            parsed = _parse_yaml(path, "".join(lines[1:end]), first_line=2)
            if isinstance(parsed, Problem):
                return parsed
            return parsed, "".join(lines[end + 1 :]).strip("\n")
    return Problem(path, 1, None, "the front matter is never closed by a '---' line")


def _validation_problems(source: _Source, exc: ValidationError, prefix: Loc = ()) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = (*prefix, *error["loc"])
        message = rules.validation_message(error)
        problems.append(Problem(source.path, source.line_of(loc), format_loc(loc), message))
    return problems


def _read_categories(root: Path, display: str) -> tuple[list[CategoryIn], list[Problem]]:
    path = root / CATEGORIES_FILE
    name = f"{display}/{CATEGORIES_FILE}"
    if not path.is_file():
        return [], [Problem(name, None, None, "file not found: the category list is required")]
    parsed = _parse_yaml(name, path.read_text(encoding="utf-8"), first_line=1)
    if isinstance(parsed, Problem):
        return [], [parsed]
    if not isinstance(parsed.data, list):
        return [], [Problem(name, 1, None, "expected a list of {slug, name, description} entries")]
    categories, problems = [], []
    seen: dict[str, int] = {}
    for i, entry in enumerate(parsed.data):
        try:
            category = CategoryIn.model_validate(entry)
        except ValidationError as exc:
            problems += _validation_problems(parsed, exc, (i,))
            continue
        if category.slug in seen:
            problems.append(
                Problem(
                    name,
                    parsed.line_of((i, "slug")),
                    f"[{i}].slug",
                    f"duplicate category slug {category.slug!r}"
                    f" (first used by entry {seen[category.slug]})",
                )
            )
            continue
        seen[category.slug] = i
        categories.append(category)
    return categories, problems


@dataclass
class _TermFile:
    source: _Source
    term: TermIn


def _read_term(path: Path, display: str) -> _TermFile | list[Problem]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [Problem(display, None, None, f"not UTF-8 text: {exc.reason}")]
    split = _split_front_matter(display, text)
    if isinstance(split, Problem):
        return [split]
    source, body = split
    if not isinstance(source.data, dict):
        return [Problem(display, 2, None, "the front matter must be a mapping of fields")]
    try:
        term = TermIn.model_validate({**source.data, "body": body})
    except ValidationError as exc:
        return _validation_problems(source, exc)
    return _TermFile(source, term)


def _cross_checks(
    files: list[_TermFile], category_slugs: set[str], broken: set[str]
) -> tuple[list[StoredLink], list[Problem]]:
    """Checks across files. ``broken`` are the slugs of files that failed on their own: links
    to them are not reported again as links to unknown terms."""
    problems: list[Problem] = []
    slugs = {f.term.slug for f in files}

    def report(f: _TermFile, loc: Loc, message: str) -> None:
        problems.append(Problem(f.source.path, f.source.line_of(loc), format_loc(loc), message))

    file_of: dict[str, _TermFile] = {}
    for f in files:
        stem = Path(f.source.path).stem
        if f.term.slug != stem:
            report(f, ("slug",), f"{f.term.slug!r} must equal the file name {stem!r}")
        first = file_of.setdefault(f.term.slug, f)
        if first is not f:
            report(f, ("slug",), f"duplicate slug {f.term.slug!r}: {first.source.path} has it too")

    for f in files:
        for loc, message in rules.own_problems(f.term):
            report(f, loc, message)

    # Every name a term answers to must lead to exactly one term. Slugs and names claim their
    # keys first, so a clash is reported at the alias that causes it.
    owners: dict[str, tuple[str, str]] = {}
    for f in files:
        for loc, text in [(("slug",), f.term.slug), (("name",), f.term.name)]:
            other, label = owners.setdefault(fold_key(text), (f.term.slug, text))
            if other != f.term.slug:
                report(f, loc, rules.taken(text, other, label))
    for f in files:
        own = {fold_key(f.term.slug), fold_key(f.term.name)}
        for i, alias in enumerate(f.term.aliases):
            key = fold_key(alias)
            if key in own:
                continue
            other, label = owners.setdefault(key, (f.term.slug, alias))
            if other != f.term.slug:
                report(f, ("aliases", i), rules.taken(alias, other, label))

    links: dict[tuple[str, str], tuple[StoredLink, _TermFile, int]] = {}
    for f in files:
        if f.term.category not in category_slugs:
            report(f, ("category",), rules.unknown_category(f.term.category, category_slugs))
        demo = rules.demo_problem(f.term)
        if demo is not None:
            report(f, *demo)
        for i, link in rules.links_to_others(f.term):
            if link.term not in slugs:
                if link.term not in broken:
                    report(f, ("related", i, "term"), rules.unknown_term(link.term))
                continue
            stored = StoredLink(*canonical_link(f.term.slug, link.relation, link.term))
            pair = (min(stored.source, stored.target), max(stored.source, stored.target))
            previous = links.get(pair)
            if previous is None:
                links[pair] = (stored, f, i)
            elif previous[0] != stored:
                declared, where, _ = previous
                report(
                    f,
                    ("related", i, "relation"),
                    rules.conflicting_relation(
                        link.term,
                        link.relation,
                        where.source.path,
                        (declared.source, declared.relation, declared.target),
                    ),
                )
    stored_links = [entry[0] for entry in links.values()]
    problems += _broader_cycles(stored_links, {f.term.slug: f for f in files})
    problems += _links_to_broader_terms(list(links.values()))
    return stored_links, problems


def _broader_cycles(links: list[StoredLink], files: dict[str, _TermFile]) -> list[Problem]:
    """``broader`` must form a hierarchy: report each cycle once, at its smallest slug."""
    parents: dict[str, list[str]] = {}
    for link in links:
        if link.relation is Relation.broader:
            parents.setdefault(link.source, []).append(link.target)
    problems, reported = [], set()
    for start in sorted(parents):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for parent in parents.get(node, []):
                if parent == start:
                    cycle = frozenset(path)
                    if cycle not in reported:
                        reported.add(cycle)
                        f = files[start]
                        problems.append(
                            Problem(
                                f.source.path,
                                f.source.line_of(("related",)),
                                "related",
                                rules.broader_cycle([*path, start]),
                            )
                        )
                elif parent not in path:
                    stack.append((parent, [*path, parent]))
    return problems


def _links_to_broader_terms(links: list[tuple[StoredLink, _TermFile, int]]) -> list[Problem]:
    """No link other than ``broader`` may join a term to one of its broader terms (SKOS
    integrity condition S27: skos:related is disjoint from skos:broaderTransitive, and every
    relation here but ``broader`` is a kind of skos:related). Reported at the entry that
    declares the link."""
    parents: dict[str, list[str]] = {}
    for stored, _, _ in links:
        if stored.relation is Relation.broader:
            parents.setdefault(stored.source, []).append(stored.target)
    ancestors: dict[str, set[str]] = {}

    def above(slug: str) -> set[str]:
        if slug not in ancestors:
            found: set[str] = set()
            stack = list(parents.get(slug, []))
            while stack:  # iterative and cycle-safe: cycles are reported on their own
                parent = stack.pop()
                if parent not in found:
                    found.add(parent)
                    stack += parents.get(parent, [])
            ancestors[slug] = found
        return ancestors[slug]

    problems = []
    for stored, f, i in links:
        if stored.relation is Relation.broader:
            continue
        ends = [(stored.source, stored.target), (stored.target, stored.source)]
        for lower, upper in ends:
            if upper in above(lower):
                link = (stored.source, stored.relation, stored.target)
                problems.append(
                    Problem(
                        f.source.path,
                        f.source.line_of(("related", i)),
                        f"related[{i}].term",
                        rules.linked_to_broader_term(link, lower, upper),
                    )
                )
                break
    return problems


def data_version(root: Path) -> str:
    """A hash of every file that makes up the glossary: equal versions mean equal content."""
    digest = hashlib.sha256()
    for path in _content_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _content_files(root: Path) -> Iterator[Path]:
    categories = root / CATEGORIES_FILE
    if categories.is_file():
        yield categories
    yield from sorted((root / TERMS_DIR).glob("*.md"))


def read_glossary(root: Path) -> Glossary:
    """Parse and validate a data directory; raise ``ContentError`` listing every problem."""
    display = root.as_posix().rstrip("/") or "."
    if not root.is_dir():
        raise ContentError([Problem(display, None, None, "data directory not found")])
    version = data_version(root)
    categories, problems = _read_categories(root, display)
    terms_dir = root / TERMS_DIR
    if not terms_dir.is_dir():
        problems.append(Problem(f"{display}/{TERMS_DIR}", None, None, "directory not found"))
    files: list[_TermFile] = []
    broken: set[str] = set()
    for path in _content_files(root):
        if path.parent != terms_dir:
            continue
        parsed = _read_term(path, f"{display}/{TERMS_DIR}/{path.name}")
        if isinstance(parsed, list):
            problems += parsed
            broken.add(path.stem)
        else:
            files.append(parsed)
    stray = sorted(
        p.name
        for p in (terms_dir.iterdir() if terms_dir.is_dir() else [])
        if p.suffix != ".md" and not p.name.startswith(".")
    )
    problems += [
        Problem(
            f"{display}/{TERMS_DIR}/{name}", None, None, "not a term file: term files end in .md"
        )
        for name in stray
    ]
    links, cross = _cross_checks(files, {c.slug for c in categories}, broken)
    problems += cross
    if problems:
        raise ContentError(problems)
    return Glossary(categories, [f.term for f in files], links, version)
