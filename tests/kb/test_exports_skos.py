"""kb.exports.skos: the SKOS export meets SKOS's integrity conditions and parses back, in
Turtle and in JSON-LD, to the concepts, labels and links of the database."""

from pathlib import Path

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import RDF, RDFS, SKOS
from sqlalchemy.engine import Engine

from kb import loader
from kb.content import Glossary, read_glossary
from kb.exports import Format, records, skos, stream
from kb.relations import Relation
from tests.kb.skos_integrity import (
    integrity_problems,
    s13_label_clashes,
    s14_pref_label_languages,
    s27_related_and_broader_transitive,
)

DATA = Path(__file__).resolve().parents[2] / "data"
BASE = "https://glossary.example.org"
EX = Namespace("https://example.org/")


def exported(engine: Engine, format: Format) -> Graph:
    text = b"".join(stream(engine, format, BASE))
    return Graph().parse(data=text, format="turtle" if format is Format.turtle else "json-ld")


def built(engine: Engine) -> Graph:
    with records.snapshot(engine) as session:
        return skos.build_graph(records.categories(session), records.terms(session), BASE)


def term(slug: str) -> URIRef:
    return URIRef(f"{BASE}/api/v1/terms/{slug}")


def expected_link_triples(glossary: Glossary) -> set[tuple[URIRef, URIRef, URIRef]]:
    """Each link from both ends, under SKOS's property or ours, from the files themselves."""

    def prop(relation: Relation) -> URIRef:
        if relation.value in ("related", "broader", "narrower"):
            return SKOS[relation.value]
        return URIRef(f"{BASE}/glossary/relation/{relation.value}")

    triples = set()
    for link in glossary.links:
        triples.add((term(link.source), prop(link.relation), term(link.target)))
        triples.add((term(link.target), prop(link.relation.inverse), term(link.source)))
    return triples


# --- the integrity checks themselves can fail ---------------------------------------------------


def test_s13_finds_a_label_used_twice() -> None:
    bad = Graph()
    bad.add((EX.a, SKOS.prefLabel, Literal("Adam", lang="en")))
    bad.add((EX.a, SKOS.altLabel, Literal("Adam", lang="en")))
    assert s13_label_clashes(bad) and integrity_problems(bad)
    bad.remove((EX.a, SKOS.altLabel, Literal("Adam", lang="en")))
    bad.add((EX.a, SKOS.altLabel, Literal("Adam", lang="de")))  # another language: no clash
    assert s13_label_clashes(bad) == []


def test_s14_finds_two_pref_labels_in_one_language() -> None:
    bad = Graph()
    bad.add((EX.a, SKOS.prefLabel, Literal("Adam", lang="en")))
    bad.add((EX.a, SKOS.prefLabel, Literal("Adam optimizer", lang="en")))
    assert s14_pref_label_languages(bad)
    bad.remove((EX.a, SKOS.prefLabel, Literal("Adam", lang="en")))
    bad.add((EX.a, SKOS.prefLabel, Literal("Adam", lang="fr")))
    assert s14_pref_label_languages(bad) == []


@pytest.mark.parametrize(
    "clash",
    [
        (EX.a, SKOS.related, EX.c),  # related to a grandparent
        (EX.c, SKOS.related, EX.a),  # the same, read from the other end
        (EX.a, EX.uses, EX.c),  # through a sub-property of skos:related
        (EX.a, EX.usesDirectly, EX.b),  # through a sub-property of a sub-property
    ],
)
def test_s27_finds_related_terms_that_are_also_broader(clash: tuple[URIRef, ...]) -> None:
    bad = Graph()
    bad.add((EX.a, SKOS.broader, EX.b))
    bad.add((EX.c, SKOS.narrower, EX.b))  # b broader c, written as narrower
    bad.add((EX.uses, RDFS.subPropertyOf, SKOS.related))
    bad.add((EX.usesDirectly, RDFS.subPropertyOf, EX.uses))
    assert s27_related_and_broader_transitive(bad) == []
    bad.add(clash)  # type: ignore[arg-type]
    assert s27_related_and_broader_transitive(bad)


# --- the export ---------------------------------------------------------------------------------


def test_real_data_export_meets_the_integrity_conditions(engine: Engine) -> None:
    loader.load(engine, read_glossary(DATA))
    graph = exported(engine, Format.turtle)
    assert integrity_problems(graph) == []
    # The conditions were checked on something: labels, hierarchy and related links are there.
    assert len(set(graph.subjects(RDF.type, SKOS.Concept))) == len(read_glossary(DATA).terms)
    assert set(graph.subject_objects(SKOS.broader))
    assert set(graph.subject_objects(SKOS.altLabel))


@pytest.mark.parametrize("format", [Format.turtle, Format.jsonld])
# rdflib's own JSON-LD parser uses its deprecated ConjunctiveGraph inside.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_export_parses_back_to_the_database_content(
    engine: Engine, data_dir: Path, format: Format
) -> None:
    glossary = read_glossary(data_dir)
    loader.load(engine, glossary)
    graph = exported(engine, format)
    assert isomorphic(graph, built(engine))
    concepts = set(graph.subjects(RDF.type, SKOS.Concept))
    assert concepts == {term(t.slug) for t in glossary.terms}
    for t in glossary.terms:
        assert set(graph.objects(term(t.slug), SKOS.prefLabel)) == {Literal(t.name, lang="en")}
        assert set(graph.objects(term(t.slug), SKOS.altLabel)) == {
            Literal(alias, lang="en") for alias in t.aliases
        }
        assert graph.value(term(t.slug), SKOS.definition) == Literal(t.summary, lang="en")
        assert graph.value(term(t.slug), SKOS.notation) == Literal(t.slug)
        scheme = graph.value(term(t.slug), SKOS.inScheme)
        assert scheme == URIRef(f"{BASE}/glossary")
        members = set(graph.subjects(SKOS.member, term(t.slug)))
        assert members == {URIRef(f"{BASE}/api/v1/categories/{t.category}")}
    properties = {SKOS.related, SKOS.broader, SKOS.narrower} | set(
        graph.subjects(RDFS.subPropertyOf, SKOS.related)
    )
    links = {(s, p, o) for p in properties for s, o in graph.subject_objects(p)}
    assert links == expected_link_triples(glossary)


def test_relation_types_are_declared_sub_properties_of_related(engine: Engine) -> None:
    graph = built(engine)
    ours = {r for r in Relation if r.value not in ("related", "broader", "narrower")}
    declared = set(graph.subjects(RDFS.subPropertyOf, SKOS.related))
    assert declared == {URIRef(f"{BASE}/glossary/relation/{r.value}") for r in ours}
    for relation in ours:
        prop = URIRef(f"{BASE}/glossary/relation/{relation.value}")
        assert graph.value(prop, RDFS.label) == Literal(relation.value, lang="en")
        assert graph.value(prop, RDFS.comment) is not None
        inverse = URIRef(f"{BASE}/glossary/relation/{relation.inverse.value}")
        assert (prop, URIRef("http://www.w3.org/2002/07/owl#inverseOf"), inverse) in graph


def test_top_concepts_are_the_terms_without_a_broader_term(engine: Engine) -> None:
    glossary = read_glossary(DATA)
    loader.load(engine, glossary)
    graph = built(engine)
    narrower = {link.source for link in glossary.links if link.relation is Relation.broader}
    roots = {term(t.slug) for t in glossary.terms if t.slug not in narrower}
    scheme = URIRef(f"{BASE}/glossary")
    assert set(graph.subjects(SKOS.topConceptOf, scheme)) == roots
    assert set(graph.objects(scheme, SKOS.hasTopConcept)) == roots
    assert term("relu") not in roots  # relu broader activation-function
    assert term("activation-function") in roots
    collections = set(graph.subjects(RDF.type, SKOS.Collection))
    assert collections == {
        URIRef(f"{BASE}/api/v1/categories/{c.slug}") for c in glossary.categories
    }
