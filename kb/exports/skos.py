"""The glossary as a SKOS concept scheme, written as Turtle or JSON-LD with rdflib.

- Each term is a ``skos:Concept`` in the scheme: its name is the ``prefLabel``, its aliases
  ``altLabel``\\ s, its summary the ``definition`` and its slug the ``notation``. Its URI is its
  API address (``<base>/api/v1/terms/<slug>``), so it can be looked up.
- Links: ``broader``/``narrower``/``related`` are SKOS's own properties. Every other relation
  type is a property of our own, ``<base>/glossary/relation/<type>``, declared in the export as
  an ``rdfs:subPropertyOf skos:related`` (with ``owl:inverseOf`` its inverse), so a SKOS reader
  that knows no more still sees the two terms as related. Each link is written from both ends,
  under the inverse name from the other end, as SKOS data usually has ``broader`` and
  ``narrower`` both.
- Categories are ``skos:Collection``\\ s with their terms as members, not concepts: a category
  groups terms for browsing ("Optimization"), it is not a broader meaning of them. Making it a
  concept would claim ``adam-optimizer broader optimization`` and add a second hierarchy next to
  the real ``broader`` links.
- Top concepts are the terms with no broader term, the roots of the hierarchy.

Labels carry the language tag ``en``: the glossary is written in English.
"""

from collections.abc import Iterable

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from kb.exports.records import TermRecord
from kb.relations import Relation
from kb.schemas import API_PREFIX, CategoryIn

LANGUAGE = "en"
TITLE = "ML glossary"

_SKOS_PROPERTIES = {
    Relation.related: SKOS.related,
    Relation.broader: SKOS.broader,
    Relation.narrower: SKOS.narrower,
}
_MEANINGS = {
    Relation.variant_of: "The subject is a variant of the object (AdamW is a variant of Adam).",
    Relation.has_variant: "The object is a variant of the subject (Adam has the variant AdamW).",
    Relation.part_of: "The subject is a part of the object (a neuron is part of a network).",
    Relation.has_part: "The object is a part of the subject (a network has neurons).",
    Relation.uses: "The subject uses the object in how it works (Adam uses RMSProp's scaling).",
    Relation.used_by: "The object uses the subject in how it works (RMSProp is used by Adam).",
    Relation.contrasts_with: "The two are alternatives, often compared with each other.",
}


class Vocabulary:
    """The URIs of one export, all under ``base`` (the server's root URL)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.scheme = URIRef(f"{self.base}/glossary")
        self.relation = Namespace(f"{self.base}/glossary/relation/")

    def term(self, slug: str) -> URIRef:
        return URIRef(f"{self.base}{API_PREFIX}/terms/{slug}")

    def category(self, slug: str) -> URIRef:
        return URIRef(f"{self.base}{API_PREFIX}/categories/{slug}")

    def property(self, relation: Relation) -> URIRef:
        return _SKOS_PROPERTIES.get(relation) or self.relation[relation.value]


def _text(value: str) -> Literal:
    return Literal(value, lang=LANGUAGE)


def build_graph(
    categories: Iterable[CategoryIn], records: Iterable[TermRecord], base: str
) -> Graph:
    at = Vocabulary(base)
    graph = Graph(bind_namespaces="none")
    for prefix, namespace in [
        ("skos", SKOS),
        ("rdfs", RDFS),
        ("owl", OWL),
        ("dcterms", DCTERMS),
        ("rel", at.relation),
    ]:
        graph.bind(prefix, namespace)
    graph.add((at.scheme, RDF.type, SKOS.ConceptScheme))
    graph.add((at.scheme, SKOS.prefLabel, _text(TITLE)))
    graph.add((at.scheme, DCTERMS.title, _text(TITLE)))
    for relation, meaning in _MEANINGS.items():
        prop = at.property(relation)
        graph.add((prop, RDF.type, OWL.ObjectProperty))
        graph.add((prop, RDFS.subPropertyOf, SKOS.related))
        graph.add((prop, OWL.inverseOf, at.property(relation.inverse)))
        graph.add((prop, RDFS.label, _text(relation.value)))
        graph.add((prop, RDFS.comment, _text(meaning)))
    for category in categories:
        uri = at.category(category.slug)
        graph.add((uri, RDF.type, SKOS.Collection))
        graph.add((uri, SKOS.prefLabel, _text(category.name)))
        graph.add((uri, SKOS.definition, _text(category.description)))
        graph.add((uri, SKOS.notation, Literal(category.slug)))
    for record in records:
        term = record.term
        uri = at.term(term.slug)
        graph.add((uri, RDF.type, SKOS.Concept))
        graph.add((uri, SKOS.inScheme, at.scheme))
        graph.add((uri, SKOS.prefLabel, _text(term.name)))
        for alias in term.aliases:
            graph.add((uri, SKOS.altLabel, _text(alias)))
        graph.add((uri, SKOS.definition, _text(term.summary)))
        graph.add((uri, SKOS.notation, Literal(term.slug)))
        graph.add((at.category(term.category), SKOS.member, uri))
        seen = record.seen_from_term()
        for relation, other in seen:
            graph.add((uri, at.property(relation), at.term(other)))
        if not any(relation is Relation.broader for relation, _ in seen):
            graph.add((uri, SKOS.topConceptOf, at.scheme))
            graph.add((at.scheme, SKOS.hasTopConcept, uri))
    return graph


def serialize(graph: Graph, syntax: str) -> bytes:
    """``graph`` as ``turtle`` or ``json-ld`` (compacted with the graph's prefixes)."""
    if syntax == "json-ld":
        context = {prefix: str(namespace) for prefix, namespace in graph.namespaces()}
        return graph.serialize(format="json-ld", context=context, encoding="utf-8")
    return graph.serialize(format=syntax, encoding="utf-8")
