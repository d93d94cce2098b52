"""The SKOS integrity conditions an export must meet, checked over a parsed graph.

Written from the SKOS Reference (W3C Recommendation, 2009), independently of
``kb.exports.skos``, so that a mistake there is not mirrored here:

- S13: ``skos:prefLabel``, ``skos:altLabel`` and ``skos:hiddenLabel`` are pairwise disjoint (no
  resource has the same literal under two of them).
- S14: a resource has at most one ``skos:prefLabel`` per language tag.
- S27: ``skos:related`` is disjoint with ``skos:broaderTransitive``. ``related`` includes its
  sub-properties (``rdfs:subPropertyOf``, transitively) and is symmetric; ``broaderTransitive``
  is the transitive closure of ``broader`` and of ``narrower`` read backwards.
"""

from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations

from rdflib import Graph, Literal
from rdflib.namespace import RDFS, SKOS
from rdflib.term import Node

LABELS = (SKOS.prefLabel, SKOS.altLabel, SKOS.hiddenLabel)


def s13_label_clashes(graph: Graph) -> list[str]:
    problems = []
    for first, second in combinations(LABELS, 2):
        for subject, label in graph.subject_objects(first):
            if (subject, second, label) in graph:
                problems.append(f"S13: {subject} has {label!r} as {first} and {second}")
    return problems


def s14_pref_label_languages(graph: Graph) -> list[str]:
    per_language: dict[tuple[Node, str | None], list[Node]] = defaultdict(list)
    for subject, label in graph.subject_objects(SKOS.prefLabel):
        language = label.language if isinstance(label, Literal) else None
        per_language[(subject, language)].append(label)
    return [
        f"S14: {subject} has {len(labels)} prefLabels in language {language!r}"
        for (subject, language), labels in per_language.items()
        if len(labels) > 1
    ]


def _sub_properties_of(graph: Graph, top: Node) -> set[Node]:
    found = {top}
    frontier = [top]
    while frontier:
        for sub in graph.subjects(RDFS.subPropertyOf, frontier.pop()):
            if sub not in found:
                found.add(sub)
                frontier.append(sub)
    return found


def _reachable(edges: dict[Node, set[Node]], start: Node) -> Iterator[Node]:
    seen: set[Node] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            yield node
            stack.extend(edges.get(node, ()))


def s27_related_and_broader_transitive(graph: Graph) -> list[str]:
    broader: dict[Node, set[Node]] = defaultdict(set)
    for subject, obj in graph.subject_objects(SKOS.broader):
        broader[subject].add(obj)
    for subject, obj in graph.subject_objects(SKOS.broaderTransitive):
        broader[subject].add(obj)
    for subject, obj in graph.subject_objects(SKOS.narrower):
        broader[obj].add(subject)
    related: set[tuple[Node, Node]] = set()
    for prop in _sub_properties_of(graph, SKOS.related):
        for subject, obj in graph.subject_objects(prop):
            related |= {(subject, obj), (obj, subject)}
    return [
        f"S27: {subject} is related to {ancestor}, which is also broader than it"
        for subject in list(broader)
        for ancestor in _reachable(broader, subject)
        if (subject, ancestor) in related
    ]


def integrity_problems(graph: Graph) -> list[str]:
    return [
        *s13_label_clashes(graph),
        *s14_pref_label_languages(graph),
        *s27_related_and_broader_transitive(graph),
    ]
