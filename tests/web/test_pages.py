"""The HTML pages over the small test glossary, on SQLite and PostgreSQL: what each page says,
its metadata, caching, redirects and 404s, and the pieces it is built from."""

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from html5lib.html5parser import ParseError

from kb.app import create_app
from kb.config import Settings
from kb.demos import registry
from kb.schemas import CategoryRef, ReferenceModel, TermDetail, TermLinks
from kb.web import forms, render
from kb.web.pages import term_json_ld
from tests.kb.glossary_factory import CATEGORIES, TERMS, reload
from tests.web import html

HTML = "text/html; charset=utf-8"


def _json_ld(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert found, "no JSON-LD"
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_home_lists_categories_terms_and_letters(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == HTML
    text = page.text
    assert 'id="category-optimization"' in text and "No terms yet." in text  # the empty one
    for slug in TERMS:
        assert text.count(f'href="/terms/{slug}"') == 2, slug  # its category and A-Z
    assert [m for m in re.findall(r'href="#letter-(\w)"', text)] == list("abgmr")
    assert 'data-suggest="/api/v1/suggest"' in text
    # A contents list of the categories with their sizes, each jumping to its section.
    contents = re.findall(
        r'<li><a href="#category-([\w-]+)">[^<]+</a> <span class="count">(\d+)</span>', text
    )
    assert [slug for slug, _ in contents] == [c["slug"] for c in CATEGORIES]
    assert sum(int(n) for _, n in contents) == len(TERMS)
    assert all(f'id="category-{slug}"' in text for slug, _ in contents)


def test_term_page_shows_the_record(client: TestClient) -> None:
    page = client.get("/terms/adam-optimizer")
    assert page.status_code == 200 and page.headers["content-type"] == HTML
    text = page.text
    assert "<h1>Adam optimizer</h1>" in text
    assert "Also called <b>Adam</b>, <b>Adaptive Moment Estimation</b>." in text
    assert TERMS["adam-optimizer"]["summary"] in text
    # The body's math is left as TeX for KaTeX, its $ delimiters gone.
    assert '<span class="math">m_t</span>' in text
    assert '<div class="math math-display">\\theta_t = \\theta_{t-1}</div>' in text
    related = text[text.index('id="related"') : text.index('id="references"')]
    assert re.findall(r"<h3>(.*?)</h3>", related) == ["Variants", "Uses"]
    assert related.index('href="/terms/momentum"') < related.index('href="/terms/rmsprop"')
    assert 'href="https://arxiv.org/abs/1412.6980"' in text
    assert '<link rel="alternate" type="application/json" href="/api/v1/terms/adam-optimizer">' in (
        text
    )


def test_term_page_metadata(client: TestClient) -> None:
    text = client.get("/terms/adam-optimizer").text
    url = "http://testserver/terms/adam-optimizer"
    assert f'<link rel="canonical" href="{url}">' in text
    assert f'<meta property="og:url" content="{url}">' in text
    assert '<meta property="og:title" content="Adam optimizer">' in text
    data = _json_ld(text)
    assert (
        data["@type"] == "DefinedTerm" and data["url"] == url and data["name"] == "Adam optimizer"
    )
    assert data["alternateName"] == ["Adam", "Adaptive Moment Estimation"]
    assert data["description"] == TERMS["adam-optimizer"]["summary"]
    assert data["sameAs"] == ["https://arxiv.org/abs/1412.6980"]
    assert data["inDefinedTermSet"] == {
        "@type": "DefinedTermSet",
        "name": "ML glossary",
        "url": "http://testserver/",
    }
    assert "sameAs" not in _json_ld(client.get("/terms/adamw").text)  # no references


def test_public_url_setting_makes_the_links_absolute_to_it(
    database_url: str, data_dir: Path
) -> None:
    settings = Settings(
        database_url=database_url, data_dir=data_dir, public_url="https://kb.example.org/"
    )
    with TestClient(create_app(settings)) as client:
        text = client.get("/terms/adamw").text
        sitemap = client.get("/sitemap.xml")
    assert '<link rel="canonical" href="https://kb.example.org/terms/adamw">' in text
    assert _json_ld(text)["url"] == "https://kb.example.org/terms/adamw"
    assert sitemap.headers["content-type"] == "application/xml"
    locs = re.findall(r"<loc>(.*?)</loc>", sitemap.text)
    assert locs[:2] == ["https://kb.example.org/", "https://kb.example.org/graph"]
    assert sorted(locs[2:]) == sorted(f"https://kb.example.org/terms/{s}" for s in TERMS)


def test_json_ld_cannot_end_its_script_element() -> None:
    hostile = "Ends </script><script>alert(1)</script> <!-- here"
    detail = TermDetail(
        slug="x",
        version=1,
        name=hostile,
        aliases=[hostile],
        summary=hostile,
        body="b",
        category=CategoryRef(slug="c", name="C"),
        kind="concept",
        related=[],
        references=[
            ReferenceModel(
                title="t",
                authors=["a"],
                year=2000,
                venue="v",
                url="https://en.wikipedia.org/wiki/X",
                doi="10.1000/x",
            )
        ],
        demo=None,
        links=TermLinks(self="/x", related="/x/related", demo=None),
    )
    text = term_json_ld(detail, "https://kb.example.org")
    assert "<" not in text
    data = json.loads(text)
    assert data["name"] == hostile
    assert data["sameAs"] == ["https://doi.org/10.1000/x", "https://en.wikipedia.org/wiki/X"]


def test_an_alias_redirects_to_the_canonical_page(client: TestClient) -> None:
    for name in ("BN", "batch%20norm", "Batch-Normalization", "batch_normalizations"):
        moved = client.get(f"/terms/{name}", follow_redirects=False)
        assert moved.status_code == 301, name
        assert moved.headers["location"] == "/terms/batch-normalization"


def test_unknown_term_and_page_get_an_html_404_with_suggestions(client: TestClient) -> None:
    missing = client.get("/terms/adma")
    assert missing.status_code == 404 and missing.headers["content-type"] == HTML
    assert "No term is called “adma”." in missing.text
    assert '<a href="/terms/adam-optimizer">Adam optimizer</a>' in missing.text
    assert '<meta name="robots" content="noindex">' in missing.text
    nowhere = client.get("/glosary/momentun")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == HTML
    assert '<a href="/terms/momentum">Momentum</a>' in nowhere.text
    assert client.get("/terms/" + "a" * 300).status_code == 404


def test_api_paths_keep_their_json_errors(client: TestClient) -> None:
    for path in ("/api/v1/terms/adma", "/api/v1/no-such-resource", "/api/v1"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/json", path
        assert "detail" in answer.json()


def test_search_page_highlights_and_corrects(client: TestClient) -> None:
    found = client.get("/search", params={"q": "moving averages"})
    assert found.status_code == 200
    assert "<mark>moving</mark> <mark>averages</mark>" in found.text
    assert '<a href="/terms/adam-optimizer">Adam optimizer</a>' in found.text
    typo = client.get("/search", params={"q": "momentun"})
    assert 'Did you mean <a href="/search?q=Momentum">Momentum</a>?' in typo.text
    assert 'value="momentun"' in typo.text  # the box keeps the query
    empty = client.get("/search", params={"q": "", "page": "x"})
    assert empty.status_code == 200 and "<h1>Search</h1>" in empty.text


def test_search_pages_through_results(client: TestClient) -> None:
    first = client.get("/search", params={"q": "gradient"}).text
    total = int(re.search(r"(\d+) terms match", first).group(1))  # type: ignore[union-attr]
    assert total >= 3
    assert 'rel="next"' not in first  # fewer than a page
    assert 'rel="prev"' not in client.get("/search", params={"q": "gradient", "page": 1}).text


def test_graph_page_links_every_term_and_draws_every_link(client: TestClient) -> None:
    page = client.get("/graph")
    assert page.status_code == 200
    document = html.parse(page.text)
    pictures = [svg for svg in document.iter(f"{html.SVG}svg") if svg.get("role") == "group"]
    assert len(pictures) == 2  # the empty category has none
    nodes = [a.get("href") for svg in pictures for a in svg.iter(f"{html.SVG}a")]
    assert sorted(nodes) == sorted(f"/terms/{slug}" for slug in TERMS)
    edges = [p for svg in pictures for p in svg.iter(f"{html.SVG}path")]
    graph = client.get("/api/v1/graph").json()
    inside = [e for e in graph["edges"] if _category(e["source"]) == _category(e["target"])]
    assert len(edges) == len(inside)
    titles = {"".join(p.find(f"{html.SVG}title").itertext()) for p in edges}  # type: ignore[union-attr]
    assert "Adam optimizer uses Momentum" in titles


def _category(slug: str) -> str:
    return str(TERMS[slug]["category"])


def test_pages_have_etags_and_answer_304(client: TestClient) -> None:
    for path in ("/", "/terms/adam-optimizer", "/search?q=adam", "/graph", "/sitemap.xml"):
        first = client.get(path)
        etag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path


def test_a_reload_changes_the_page(client: TestClient, settings: Settings, data_dir: Path) -> None:
    before = client.get("/terms/adamw")
    terms = {**TERMS, "adamw": {**TERMS["adamw"], "summary": "Adam, decay decoupled."}}
    reload(settings.database_url, data_dir, terms)
    after = client.get("/terms/adamw", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert "Adam, decay decoupled." in after.text


def test_demo_panel_form_comes_from_the_parameter_schema(client: TestClient) -> None:
    document = html.parse(client.get("/terms/adam-optimizer").text)
    form = next(e for e in document.iter(f"{html.NS}form") if e.get("id") == "demo-form")
    assert form.get("data-run") == "/api/v1/terms/adam-optimizer/demo"
    fields = {e.get("data-param"): e for e in form.iter() if e.get("data-param")}
    schema = registry.DEMOS["adam-optimizer"].params.model_json_schema()["properties"]
    # The telling parameters first, the others (in the model's order) under "More parameters".
    featured = ["problem", "optimizers", "steps", "adam_lr"]
    assert list(fields) == featured + [name for name in schema if name not in featured]
    more = next(e for e in form.iter(f"{html.NS}details") if "more-params" in e.get("class", ""))
    assert "".join(next(more.iter(f"{html.NS}summary")).itertext()) == "More parameters"
    hidden = {e.get("data-param") for e in more.iter() if e.get("data-param")}
    assert hidden == set(schema) - set(featured) and "seed" in hidden
    steps = fields["steps"]
    assert (steps.get("type"), steps.get("min"), steps.get("max"), steps.get("step")) == (
        "number",
        "1",
        "10000",
        "1",
    )
    assert steps.get("value") == "500"
    assert fields["problem"].get("data-kind") == "select"
    assert fields["optimizers"].get("data-kind") == "choices"
    assert fields["adam_lr"].get("placeholder") == "unset" and fields["adam_lr"].get("value") == ""
    assert not html.unlabelled_fields(document)
    sources = ["".join(s.itertext()) for s in document.iter(f"{html.NS}summary")]
    assert any(s.startswith("reference.optim:Adam") for s in sources)
    assert "class Adam" in "".join(document.itertext())
    assert (
        "<form"
        not in client.get("/terms/momentum").text.split("<main", 1)[1].split('role="search"')[0]
    )
    assert 'id="demo-form"' not in client.get("/terms/backpropagation").text


def test_a_term_page_shows_its_demos_default_plot(client: TestClient) -> None:
    """Before anyone presses Run: an image of the default run, drawn only when asked for."""
    document = html.parse(client.get("/terms/adam-optimizer").text)
    result = next(e for e in document.iter() if e.get("id") == "demo-result")
    assert result.get("hidden") is None
    plot = next(result.iter(f"{html.NS}img"))
    # The plot link of a run with no parameters given: the default run's.
    default_run = client.post("/api/v1/terms/adam-optimizer/demo", json={}).json()
    assert plot.get("src") == default_run["plot"]
    assert plot.get("loading") == "lazy" and "default" in (plot.get("alt") or "")
    drawn = client.get(str(plot.get("src")))
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in drawn.content


def test_a_demo_that_cannot_run_here_says_why_instead_of_linking_a_plot(
    client: TestClient, settings: Settings, data_dir: Path
) -> None:
    """The sentence-embedding demo needs the encoder's files, which this test server lacks: the
    page says what to do and links no plot that would answer 503."""
    terms = {**TERMS, "adamw": {**TERMS["adamw"], "demo": "sentence-embedding"}}
    reload(settings.database_url, data_dir, terms)
    page = client.get("/terms/adamw").text
    result = next(e for e in html.parse(page).iter() if e.get("id") == "demo-result")
    assert not list(result.iter(f"{html.NS}img"))
    assert "kb model fetch" in "".join(result.itertext())


def test_every_demo_features_a_few_of_its_own_parameters() -> None:
    for demo in registry.DEMOS.values():
        assert 0 < len(demo.featured_params) <= 4, demo.slug
        assert set(demo.featured_params) <= set(demo.params.model_fields), demo.slug


def test_a_featured_name_that_is_no_parameter_is_refused() -> None:
    adam = registry.DEMOS["adam-optimizer"]
    with pytest.raises(ValueError, match=r"featured names no parameter.*'stepz'"):
        dataclasses.replace(adam, featured=("steps", "stepz"))


@pytest.fixture
def controls() -> Iterator[dict[str, forms.Control]]:
    # The first demo to declare a parameter name speaks for it (later demos may reuse a name).
    schemas: dict[str, dict[str, object]] = {}
    for demo in registry.DEMOS.values():
        for name, prop in _props(demo.slug).items():
            schemas.setdefault(name, prop)
    yield {name: forms.controls({"properties": {name: prop}})[0] for name, prop in schemas.items()}


def _props(slug: str) -> dict[str, dict[str, object]]:
    properties: dict[str, dict[str, object]] = registry.DEMOS[slug].params.model_json_schema()[
        "properties"
    ]
    return properties


def test_controls_cover_every_parameter_shape(controls: dict[str, forms.Control]) -> None:
    assert controls["tied_weights"].kind == "checkbox" and controls["tied_weights"].value == "false"
    assert controls["mask"].kind == "select" and controls["mask"].chosen == ("causal",)
    assert controls["queries"].kind == "matrix" and controls["queries"].optional
    assert (
        controls["batch_sizes"].kind == "list" and controls["batch_sizes"].value == "4, 16, 64, 256"
    )
    assert controls["activations"].kind == "choices" and "gelu" in controls["activations"].options
    lr = controls["scale"]
    assert (lr.kind, lr.optional, lr.minimum, lr.maximum, lr.step) == (
        "number",
        True,
        0.0,
        100.0,
        "any",
    )
    assert controls["seed"].kind == "integer" and controls["seed"].maximum == 2**32 - 1
    assert controls["steps"].unit == "steps" and controls["steps"].label == "steps"


def test_body_rendering_escapes_html_and_keeps_the_outline() -> None:
    out = render.body_html("# Part\n\nSee $$a<b$$ now.\n\n<script>x()</script>\n\n$$\nc\n$$")
    assert "<h2>Part</h2>" in out
    assert '<p>See <span class="math math-display">a&lt;b</span> now.</p>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert '<div class="math math-display">c</div>' in out
    assert render.formula_count("$a$ and $$b$$ and\n\n$$\nc\n$$\n") == 3


def test_the_html_checks_can_fail() -> None:
    with pytest.raises(ParseError):
        html.parse("<!DOCTYPE html><html><body><p>unclosed <b>bold</p></body></html>")
    assert html.outline_problems([1, 3]) == ["h1 is followed by h3"]
    assert html.outline_problems([2, 1]) != []
    bare = html.parse(
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>'
        '<label for="a">A</label><input id="a"><input name="b"><img src="x.svg">'
        '<svg viewBox="0 0 1 1"></svg><p id="d"></p><p id="d"></p></body></html>'
    )
    assert html.unlabelled_fields(bare) == ["b"]
    assert html.images_without_text(bare) == ["x.svg", "svg"]
    assert html.duplicate_ids(bare) == ["d"]
