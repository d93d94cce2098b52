"""kb.content: every rejection names the file, the line where known, the field and the reason."""

from pathlib import Path
from typing import Any

import pytest

from kb import rules
from kb.content import ContentError, Problem, data_version, read_glossary
from kb.relations import Relation
from kb.rules import fold_key, prefix_key
from tests.kb.glossary_factory import CATEGORIES, TERMS, glossary_with, write_glossary


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(ContentError) as caught:
        read_glossary(root)
    return caught.value.problems


def only_problem(root: Path) -> Problem:
    [problem] = problems_of(root)
    return problem


def with_fields(term: str, /, **fields: Any) -> dict[str, dict[str, Any]]:
    return glossary_with(**{term.replace("-", "_"): {**TERMS[term], **fields}})


def line_of(root: Path, term: str, needle: str) -> int:
    lines = (root / "terms" / f"{term}.md").read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_the_default_glossary_is_valid(tmp_path: Path) -> None:
    glossary = read_glossary(write_glossary(tmp_path))
    assert sorted(t.slug for t in glossary.terms) == sorted(TERMS)
    assert [c.slug for c in glossary.categories] == [c["slug"] for c in CATEGORIES]
    assert len(glossary.links) == 8
    assert glossary.version == data_version(tmp_path)


def test_links_are_stored_once_in_canonical_direction(tmp_path: Path) -> None:
    # momentum declares "variant-of gradient-descent"; saying the inverse on the other side too
    # is the same link, not a second one.
    terms = glossary_with(
        gradient_descent={
            **TERMS["gradient-descent"],
            "related": [{"term": "momentum", "relation": "has-variant"}],
        }
    )
    links = {
        (link.source, link.relation, link.target)
        for link in read_glossary(write_glossary(tmp_path, terms)).links
    }
    assert ("momentum", Relation.variant_of, "gradient-descent") in links
    assert ("backpropagation", Relation.uses, "gradient-descent") not in links
    assert ("gradient-descent", Relation.uses, "backpropagation") in links
    assert len(links) == 8


def test_unknown_key(tmp_path: Path) -> None:
    root = write_glossary(tmp_path, with_fields("adamw", colour="blue"))
    problem = only_problem(root)
    assert problem.path.endswith("terms/adamw.md")
    assert problem.field == "colour"
    assert "unknown key" in problem.message
    assert problem.line == line_of(root, "adamw", "colour:")


@pytest.mark.parametrize("field", ["name", "category", "kind", "summary"])
def test_missing_required_field(tmp_path: Path, field: str) -> None:
    fields = {k: v for k, v in TERMS["adamw"].items() if k != field}
    problem = only_problem(write_glossary(tmp_path, glossary_with(adamw=fields)))
    assert (problem.field, problem.message) == (field, "required field is missing")
    assert problem.path.endswith("adamw.md")


def test_empty_body(tmp_path: Path) -> None:
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", body="")))
    assert problem.field == "body"


def test_slug_must_match_file_name(tmp_path: Path) -> None:
    root = write_glossary(tmp_path)
    (root / "terms" / "adamw.md").rename(root / "terms" / "adam-w.md")
    problem = only_problem(root)
    assert problem.path.endswith("adam-w.md")
    assert (problem.field, problem.line) == ("slug", 2)
    assert "file name" in problem.message


def test_duplicate_slug_in_two_files(tmp_path: Path) -> None:
    root = write_glossary(tmp_path)
    (root / "terms" / "adamw-copy.md").write_text((root / "terms" / "adamw.md").read_text())
    problems = problems_of(root)
    assert any(p.path.endswith("adamw-copy.md") and p.field == "slug" for p in problems)


@pytest.mark.parametrize(
    ("alias", "owner"),
    [
        ("momentum", "momentum"),
        ("HEAVY BALL", "momentum"),
        ("gd", "gradient-descent"),
        ("rmsprop", "rmsprop"),
        ("Backpropagation", "backpropagation"),
    ],
)
def test_alias_colliding_with_another_term(tmp_path: Path, alias: str, owner: str) -> None:
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", aliases=[alias])))
    # Two aliases that clash are reported at whichever file comes second.
    reported_at, other = ("adamw", owner) if problem.path.endswith("adamw.md") else (owner, "adamw")
    assert problem.path.endswith(f"{reported_at}.md")
    assert problem.field is not None and problem.field.startswith("aliases[")
    assert repr(other) in problem.message
    assert problem.line is not None


@pytest.mark.parametrize(
    ("alias", "owner", "theirs"),
    [("heavy-balls", "momentum", "heavy ball"), ("gradient_descent", "gradient-descent", None)],
)
def test_alias_folding_to_another_terms_name(
    tmp_path: Path, alias: str, owner: str, theirs: str | None
) -> None:
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", aliases=[alias])))
    # Reported at whichever file comes second, naming the other term and what clashes.
    here, other = ("adamw", owner) if problem.path.endswith("adamw.md") else (owner, "adamw")
    assert problem.path.endswith(f"{here}.md")
    assert repr(other) in problem.message
    if theirs is not None:  # the clash is not visible to the eye: both texts are named
        mine, as_written = (alias, theirs) if here == "adamw" else (theirs, alias)
        assert problem.message.startswith(repr(mine))
        assert f"as {as_written!r}: look-ups ignore case" in problem.message


def test_alias_folding_to_its_own_name_is_no_clash(tmp_path: Path) -> None:
    glossary = read_glossary(
        write_glossary(tmp_path, with_fields("adamw", aliases=["Adam-W", "adam_w"]))
    )
    assert {t.slug: t.aliases for t in glossary.terms}["adamw"] == ["Adam-W", "adam_w"]


def test_alias_listed_twice(tmp_path: Path) -> None:
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", aliases=["AW", "aw"])))
    assert problem.field == "aliases"
    assert "twice" in problem.message


def test_unknown_category(tmp_path: Path) -> None:
    root = write_glossary(tmp_path, with_fields("adamw", category="astrology"))
    problem = only_problem(root)
    assert (problem.field, problem.line) == ("category", line_of(root, "adamw", "category:"))
    assert "astrology" in problem.message


def test_link_to_unknown_term(tmp_path: Path) -> None:
    related = [
        {"term": "adam-optimizer", "relation": "variant-of"},
        {"term": "nadam", "relation": "related"},
    ]
    root = write_glossary(tmp_path, with_fields("adamw", related=related))
    problem = only_problem(root)
    assert problem.field == "related[1].term"
    assert "nadam" in problem.message
    assert problem.line == line_of(root, "adamw", "term: nadam")


def test_term_related_to_itself(tmp_path: Path) -> None:
    related = [{"term": "adamw", "relation": "related"}]
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", related=related)))
    assert problem.field == "related[0].term"
    assert "itself" in problem.message


def test_conflicting_relation_types_across_files(tmp_path: Path) -> None:
    related = [{"term": "adam-optimizer", "relation": "related"}]
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", related=related)))
    assert "conflicting relation" in problem.message
    assert problem.field is not None and problem.field.startswith("related[")


def test_conflicting_relation_types_in_one_file(tmp_path: Path) -> None:
    related = [
        {"term": "adam-optimizer", "relation": "variant-of"},
        {"term": "adam-optimizer", "relation": "uses"},
    ]
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", related=related)))
    assert problem.field == "related[1].relation"
    assert "conflicting" in problem.message


def test_same_link_listed_twice(tmp_path: Path) -> None:
    related = [{"term": "adam-optimizer", "relation": "variant-of"}] * 2
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", related=related)))
    assert "listed twice" in problem.message


def test_unknown_relation_type(tmp_path: Path) -> None:
    related = [{"term": "adam-optimizer", "relation": "cousin-of"}]
    problem = only_problem(write_glossary(tmp_path, with_fields("adamw", related=related)))
    assert problem.field == "related[0].relation"
    assert "uses" in problem.message  # the allowed values are listed


def test_broader_cycle(tmp_path: Path) -> None:
    terms = glossary_with(
        momentum={**TERMS["momentum"], "related": [{"term": "rmsprop", "relation": "broader"}]},
        rmsprop={**TERMS["rmsprop"], "related": [{"term": "adamw", "relation": "broader"}]},
        adamw={**TERMS["adamw"], "related": [{"term": "momentum", "relation": "broader"}]},
    )
    problems = [p for p in problems_of(write_glossary(tmp_path, terms)) if "cycle" in p.message]
    assert len(problems) == 1
    assert "adamw -> momentum -> rmsprop -> adamw" in problems[0].message


def test_a_link_to_a_broader_term_of_ones_own(tmp_path: Path) -> None:
    """SKOS S27: momentum's chain reaches gradient-descent, so its variant-of link to it is
    refused; the same link to a term outside the chain is fine."""
    terms = glossary_with(
        momentum={
            **TERMS["momentum"],
            "related": [
                {"term": "gradient-descent", "relation": "variant-of"},
                {"term": "rmsprop", "relation": "broader"},
            ],
        },
        rmsprop={
            **TERMS["rmsprop"],
            "related": [{"term": "gradient-descent", "relation": "broader"}],
        },
    )
    root = write_glossary(tmp_path, terms)
    problem = only_problem(root)
    assert (problem.path.endswith("momentum.md"), problem.field) == (True, "related[0].term")
    assert problem.line == line_of(root, "momentum", "gradient-descent")
    assert problem.message.startswith(
        "the link momentum variant-of gradient-descent joins 'momentum' to 'gradient-descent',"
        " one of its broader terms"
    )
    del terms["rmsprop"]["related"]
    read_glossary(write_glossary(tmp_path / "fine", terms))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"summary": "x" * 301}, "summary"),
        ({"kind": "theory"}, "kind"),
        ({"slug": "Adam_W"}, "slug"),
        (
            {
                "references": [
                    {"title": "T", "authors": ["A"], "year": 15, "venue": "V", "url": "https://x"}
                ]
            },
            "references[0].year",
        ),
        (
            {
                "references": [
                    {"title": "T", "authors": [], "year": 2015, "venue": "V", "url": "https://x"}
                ]
            },
            "references[0].authors",
        ),
        (
            {
                "references": [
                    {"title": "T", "authors": ["A"], "year": 2015, "venue": "V", "url": "ftp:x"}
                ]
            },
            "references[0].url",
        ),
        (
            {
                "references": [
                    {
                        "title": "T",
                        "authors": ["A"],
                        "year": 2015,
                        "venue": "V",
                        "url": "https://x",
                        "arxiv": "soon",
                    }
                ]
            },
            "references[0].arxiv",
        ),
        ({"aliases": "AW"}, "aliases"),
        ({"demo": "Not A Slug"}, "demo"),
    ],
)
def test_invalid_field_values(tmp_path: Path, fields: dict[str, Any], field: str) -> None:
    problems = problems_of(write_glossary(tmp_path, with_fields("adamw", **fields)))
    assert field in [p.field for p in problems]
    assert all(p.path.endswith("adamw.md") for p in problems)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    root = write_glossary(tmp_path)
    path = root / "terms" / "adamw.md"
    lines = path.read_text().splitlines()
    lines[3] = "kind: [algorithm"
    path.write_text("\n".join(lines) + "\n")
    problem = only_problem(root)
    assert problem.path.endswith("adamw.md")
    assert "malformed YAML" in problem.message
    assert problem.line is not None and problem.line >= 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter\n", "must start with a '---'"),
        ("---\nslug: adamw\n", "never closed"),
        ("---\n- a list\n---\nbody\n", "mapping"),
        ("", "must start with"),
    ],
)
def test_broken_term_files(tmp_path: Path, text: str, message: str) -> None:
    root = write_glossary(tmp_path)
    (root / "terms" / "adamw.md").write_text(text)
    problems = [p for p in problems_of(root) if p.path.endswith("adamw.md")]
    assert len(problems) == 1
    assert message in problems[0].message


def test_not_utf8(tmp_path: Path) -> None:
    root = write_glossary(tmp_path)
    (root / "terms" / "adamw.md").write_bytes(b"---\nname: \xff\n---\n")
    assert "UTF-8" in next(p for p in problems_of(root) if p.path.endswith("adamw.md")).message


def test_stray_file_in_terms(tmp_path: Path) -> None:
    root = write_glossary(tmp_path)
    (root / "terms" / "notes.txt").write_text("hello")
    (root / "terms" / ".hidden").write_text("ignored")
    problem = only_problem(root)
    assert problem.path.endswith("notes.txt")


def test_categories_file_problems(tmp_path: Path) -> None:
    categories = [
        *CATEGORIES,
        {"slug": "optimization", "name": "Again", "description": "dup"},
        {"slug": "bad", "name": "No description"},
    ]
    problems = problems_of(write_glossary(tmp_path, categories=categories))
    assert {p.field for p in problems} == {"[3].slug", "[4].description"}
    assert all(p.path.endswith("categories.yaml") and p.line for p in problems)


def test_missing_pieces(tmp_path: Path) -> None:
    assert "not found" in only_problem(tmp_path / "nowhere").message
    tmp_path.joinpath("empty").mkdir()
    messages = [p.message for p in problems_of(tmp_path / "empty")]
    assert any("categories" in m or "not found" in m for m in messages)
    assert len(messages) == 2


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    terms = glossary_with(
        adamw={**TERMS["adamw"], "category": "astrology"},
        momentum={**TERMS["momentum"], "colour": "blue"},
        rmsprop={**TERMS["rmsprop"], "related": [{"term": "nadam", "relation": "related"}]},
    )
    problems = problems_of(write_glossary(tmp_path, terms))
    assert len({p.path for p in problems}) == 3
    assert str(problems[0]).count(":") >= 3  # path:line: field: message


def test_problem_text_format() -> None:
    assert str(Problem("data/terms/a.md", 4, "kind", "bad")) == "data/terms/a.md:4: kind: bad"
    assert str(Problem("data/terms/a.md", None, None, "bad")) == "data/terms/a.md: bad"


def test_data_version_follows_content(tmp_path: Path) -> None:
    root = write_glossary(tmp_path)
    before = data_version(root)
    assert data_version(root) == before
    (root / "terms" / "adamw.md").write_text((root / "terms" / "adamw.md").read_text() + "more\n")
    assert data_version(root) != before


# --- how look-ups compare names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("learning rate schedule", "Learning-rate schedule"),
        ("Learning-rate schedules", "learning rate schedule"),
        ("learning_rate_schedule", "Learning rate schedule"),
        ("cross entropy", "cross-entropy"),
        ("bayes theorem", "Bayes' theorem"),
        ("Bayes\u2019 theorem", "Bayes' theorem"),
        ("k means", "k-means"),
        ("KMeans", "k-means"),
        ("Gaussian processes", "Gaussian process"),
        ("losses", "loss"),
        ("frechet inception distance", "Fr\u00e9chet inception distance"),
        ("GANs", "GAN"),
        ("  Q\u2013learning ", "Q-learning"),
    ],
)
def test_look_ups_fold_case_separators_accents_and_plurals(typed: str, stored: str) -> None:
    assert fold_key(typed) == fold_key(stored)


@pytest.mark.parametrize(
    ("one", "other"),
    [("k-means", "k-means++"), ("loss", "lo"), ("L1", "L2"), ("ReLU", "ELU"), ("top-k", "top-p")],
)
def test_look_ups_keep_apart_what_differs(one: str, other: str) -> None:
    assert fold_key(one) != fold_key(other)


def test_type_ahead_compares_starts_before_the_plural_is_folded() -> None:
    assert prefix_key("Learning r") == "learningr"
    assert "learningrateschedule".startswith(prefix_key("learning-rate s"))
    assert prefix_key("los") == "los"  # not "lo": a prefix is not a plural


def test_an_unknown_demo_is_answered_with_the_closest_registered_ones_not_all() -> None:
    message = rules.unknown_demo("adam")
    assert "closest: adam-optimizer" in message and "weight-decay" not in message
    assert "closest" not in rules.unknown_demo("no-such-thing-at-all")
