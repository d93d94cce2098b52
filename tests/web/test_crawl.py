"""Crawl the whole site over the real glossary in data/, on SQLite and PostgreSQL: every page
and every file a page links to answers 200 with the right type, every page is valid HTML5 with
a sound outline and labelled fields, and nothing loads from another host."""

from collections import deque
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from kb.app import create_app
from kb.config import Settings
from tests.kb.test_glossary_data import EVERYDAY_LOOK_UPS
from tests.web import html

DATA = Path(__file__).resolve().parents[2] / "data"
ROOT = "http://testserver"
# What a link's kind promises about the answer's Content-Type.
EXPECTED = {"stylesheet": "text/css", "script": "javascript", "img": "image/"}
# Pages a person reaches through a form rather than a link: searches (one a typo, one paging).
LOC = "{http://www.sitemaps.org/schemas/sitemap/0.9}loc"
START = ["/", "/search?q=normalization", "/search?q=adma", "/search?q=a", "/no/such/page"]


@pytest.fixture
def site(database_url: str) -> "TestClient":
    settings = Settings(database_url=database_url, data_dir=DATA, cache_ttl=0)
    with TestClient(create_app(settings), base_url=ROOT) as client:
        yield client


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_every_page_and_link_of_the_site_works(site: TestClient) -> None:
    queue = deque((f"{ROOT}{start}", "a", "start") for start in START)
    seen = {url for url, _, _ in queue}
    pages: dict[str, str] = {}
    problems: list[str] = []
    while queue:
        url, kind, source = queue.popleft()
        response = site.get(_path(url))
        expected_status = 404 if url.endswith("/no/such/page") else 200
        if response.status_code != expected_status:
            problems.append(f"{url} (linked from {source}): {response.status_code}")
            continue
        content_type = response.headers["content-type"]
        if kind in EXPECTED and EXPECTED[kind] not in content_type:
            problems.append(f"{url} (a {kind} in {source}) is {content_type}")
        found: list[html.Link | str] = []
        if content_type.startswith("text/css"):
            found = html.css_urls(response.text, url)
        elif content_type.startswith("application/xml"):
            found = [loc.text or "" for loc in ElementTree.fromstring(response.text).iter(LOC)]
            assert found and all(u.startswith(f"{ROOT}/") for u in found), found
        elif content_type.startswith("text/html"):
            pages[url] = response.text
            try:
                document = html.parse(response.text)
            except Exception as exc:
                problems.append(f"{url}: not valid HTML5: {exc}")
                continue
            found = list(html.links(document, url))
            for link in found:
                if link.resource and not html.is_internal(link.url, ROOT):
                    problems.append(f"{url} loads {link.url} from another host")
        for link in found:
            target = link if isinstance(link, str) else link.url
            link_kind = "listed" if isinstance(link, str) else link.kind
            if html.is_internal(target, ROOT) and target not in seen:
                seen.add(target)
                queue.append((target, link_kind, url))
    assert not problems, "\n".join(problems)

    term_pages = {urlsplit(u).path.removeprefix("/terms/") for u in pages if "/terms/" in u}
    assert term_pages == {p.stem for p in (DATA / "terms").glob("*.md")}
    assert {f"{ROOT}/graph", f"{ROOT}/sitemap.xml"} <= seen
    assert pages[f"{ROOT}/"].count('href="/terms/') >= 2 * len(term_pages)  # categories and A-Z
    assert any(u.startswith(f"{ROOT}/static/katex/fonts/") for u in seen)
    assert len(pages) > 80


def test_every_page_has_an_outline_labels_and_text_alternatives(site: TestClient) -> None:
    slugs = sorted(p.stem for p in (DATA / "terms").glob("*.md"))
    paths = ["/", "/graph", "/search", "/search?q=norm", "/no/such/page"]
    problems = []
    for path in paths + [f"/terms/{slug}" for slug in slugs]:
        document = html.parse(site.get(path).text)
        problems += [f"{path}: {p}" for p in html.outline_problems(html.heading_levels(document))]
        problems += [f"{path}: field {f} has no label" for f in html.unlabelled_fields(document)]
        problems += [
            f"{path}: {i} has no text alternative" for i in html.images_without_text(document)
        ]
        problems += [f"{path}: id {i} is used twice" for i in html.duplicate_ids(document)]
    assert not problems, "\n".join(problems)


def test_everyday_look_ups_through_the_api_and_the_pages(site: TestClient) -> None:
    for typed, slug in EVERYDAY_LOOK_UPS.items():
        assert site.get(f"/api/v1/terms/{typed}").json()["slug"] == slug, typed
        page = site.get(f"/terms/{typed}", follow_redirects=False)
        assert (page.status_code, page.headers.get("location")) in {
            (200, None),
            (301, f"/terms/{slug}"),
        }, typed
