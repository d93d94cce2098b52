"""End to end in a real browser: Debian's chromium, driven by Playwright, against ``kb serve``
on a loopback port with the real glossary. Screenshots go to test-artifacts/.

No browser is ever downloaded: Playwright launches /usr/bin/chromium (the README's test command
installs it). Without it these tests fail; they are never skipped.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
    sync_playwright,
)

from kb.content import read_glossary
from kb.web.render import formula_count
from tests.kb.live import serving
from tests.web import html

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Installed by the README's test command (`npm ci --prefix tests/web`, see package.json there).
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BODIES = {term.slug: term.body for term in read_glossary(DATA).terms}
# Only the loopback server may be asked for anything: no CDN, no font service, no telemetry.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("browser") / "kb.sqlite3"
    with serving(DATA, f"sqlite:///{database}") as root:
        yield root


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


class Watched:
    """A page, with every request it makes and every script error it meets."""

    def __init__(self, page: Page, root: str) -> None:
        self.page = page
        self.root = root
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self._request(request))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: self._console(message))
        page.on("response", lambda response: self._response(response))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        # A failed load is reported as a response, with its URL (see below).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response: Response) -> None:
        # The demo form's refusal (422) is an answer the page shows; anything else is a fault.
        expected = response.status == 422 and response.url.endswith("/demo")
        if response.status >= 400 and not expected and not response.url.endswith("/nowhere"):
            self.errors.append(f"{response.status} {response.url}")

    def foreign(self) -> list[str]:
        host = urlsplit(self.root).netloc
        return [u for u in self.requests if urlsplit(u).netloc != host and u.startswith("http")]


@pytest.fixture
def watched(browser: Browser, server: str) -> Iterator[Watched]:
    context = browser.new_context(base_url=server, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    watched = Watched(page, server)
    yield watched
    context.close()
    assert not watched.foreign(), f"requests to other hosts: {watched.foreign()}"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def focused(page: Page) -> str:
    """The focused element, as ``tag#id`` or ``tag[href]``."""
    text: str = page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')"
        " + (e.getAttribute('href') ? '[' + e.getAttribute('href') + ']' : ''); }"
    )
    return text


def tab_until(page: Page, wanted: str, limit: int = 400) -> int:
    """Press Tab until the focused element starts with ``wanted``; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if focused(page).startswith(wanted):
            return presses
    raise AssertionError(f"{wanted} is not reachable with Tab ({limit} presses)")


def assert_math_typeset(page: Page, slug: str) -> None:
    expected = formula_count(BODIES[slug])
    expect(page.locator(".body .katex")).to_have_count(expected)
    assert expected > 0
    body_text = page.locator(".body").inner_text()
    # KaTeX writes its MathML copy as annotation text; what a reader sees has no TeX delimiters.
    visible = page.evaluate(
        "() => { const b = document.querySelector('.body').cloneNode(true);"
        " b.querySelectorAll('.katex-mathml').forEach(m => m.remove()); return b.innerText; }"
    )
    assert "$" not in visible, visible
    assert body_text


def test_search_with_type_ahead_open_a_term_and_follow_a_related_link(watched: Watched) -> None:
    page = watched.page
    page.goto("/")
    page.locator("#q").press_sequentially("bat", delay=40)
    suggestions = page.locator("#suggestions a")
    expect(page.locator("#suggestions")).to_contain_text("(Batch normalization)")
    expect(page.locator("#suggestions")).to_contain_text("Batch size")
    expect(page.locator("#suggest-status")).to_contain_text("suggestions")
    shot(page, "1-type-ahead")

    # The first suggestion is one Tab away from the box, and Enter opens it.
    first = suggestions.first.get_attribute("href")
    page.keyboard.press("Tab")
    assert focused(page) == f"a[{first}]"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{first}")
    assert_math_typeset(page, str(first).removeprefix("/terms/"))
    shot(page, "2-term")

    related = page.locator("section[aria-labelledby=related] a").first
    target = related.get_attribute("href")
    related.click()
    page.wait_for_url(f"**{target}")
    expect(page.locator("h1")).to_have_count(1)
    assert page.locator("link[rel=canonical]").get_attribute("href", timeout=0) == (
        f"{watched.root}{target}"
    )
    shot(page, "3-related")
    assert not watched.errors, watched.errors


def test_search_results_page_and_did_you_mean(watched: Watched) -> None:
    page = watched.page
    page.goto("/")
    page.fill("#q", "adma")
    page.locator("#q").press("Enter")
    page.wait_for_url("**/search?q=adma")
    expect(page.locator(".did-you-mean a")).to_have_text("Adam")
    # From the search box, Tab reaches the results (past the form's own button).
    page.locator("#q").focus()
    page.keyboard.press("Escape")
    first_result = page.locator("ol.results a").first.get_attribute("href")
    assert tab_until(page, f"a[{first_result}]") <= 6
    shot(page, "4-search")
    page.locator(".did-you-mean a").click()
    page.wait_for_url("**/search?q=Adam")
    expect(page.locator("ol.results a").first).to_have_attribute("href", "/terms/adam-optimizer")
    assert page.locator("ol.results mark").count() > 0
    assert not watched.errors, watched.errors


DRAWN = """() => { const i = document.querySelector('#demo-result img.plot');
  return i && i.complete && i.naturalWidth > 0; }"""


def test_run_a_demo_from_its_form(watched: Watched) -> None:
    page = watched.page
    page.goto("/terms/adam-optimizer")
    assert_math_typeset(page, "adam-optimizer")

    # The Run button is reachable from the search box with the keyboard alone.
    page.locator("#q").focus()
    tab_until(page, "button#demo-run")

    # Before anyone presses Run, the default run's plot is there (drawn when scrolled to).
    plot = page.locator("#demo-result img.plot")
    plot.scroll_into_view_if_needed()
    page.wait_for_function(DRAWN, timeout=60_000)
    assert "/api/v1/terms/adam-optimizer/demo/plot.svg" in str(plot.get_attribute("src"))
    # The parameters beyond the first few wait under "More parameters".
    expect(page.locator("#demo-seed")).to_be_hidden()
    page.click("details.more-params > summary")
    expect(page.locator("#demo-seed")).to_be_visible()

    page.select_option("#demo-problem", "quadratic")
    page.fill("#demo-steps", "150")
    page.locator("input[name=optimizers][value=rmsprop]").uncheck()
    page.click("#demo-run")
    expect(page.locator("#demo-status")).to_contain_text("Done", timeout=60_000)
    expect(plot).to_be_visible()
    page.wait_for_function(DRAWN, timeout=60_000)
    assert "problem=quadratic" in str(plot.get_attribute("src"))
    assert "steps=150" in str(plot.get_attribute("src"))
    alt = plot.get_attribute("alt")
    assert alt and "Adam" in alt
    rows = page.locator("#demo-result table.metrics tbody tr")
    assert rows.count() > 3
    metrics = page.locator("#demo-result table.metrics tbody th").all_inner_texts()
    assert "adam.final_loss" in metrics and not any(m.startswith("rmsprop.") for m in metrics)
    shot(page, "5-demo")
    assert axe_violations(page) == []  # with the result shown and every parameter in view

    # A parameter out of bounds: the API's reason is shown, nothing breaks.
    page.evaluate("document.querySelector('#demo-steps').removeAttribute('max')")
    page.fill("#demo-steps", "99999")
    page.click("#demo-run")
    expect(page.locator("#demo-status")).to_contain_text("steps")
    expect(page.locator("#demo-status")).to_have_class(re.compile("error"))
    assert not watched.errors, watched.errors


HEADINGS = """() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
  .filter(h => h.offsetParent !== null || h.getClientRects().length)
  .map(h => Number(h.tagName[1]))"""
UNLABELLED = """() => [...document.querySelectorAll('input,select,textarea')]
  .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.name || e.id)"""
NO_TEXT = """() => [...document.querySelectorAll('img')].filter(i => !i.alt).map(i => i.src)
  .concat([...document.querySelectorAll('svg')].filter(s =>
    !s.closest('[aria-hidden=true]') && !s.getAttribute('aria-labelledby')
    && !s.getAttribute('aria-label') && !s.querySelector(':scope > title')).map(() => 'svg'))"""


@pytest.mark.parametrize(
    "path", ["/", "/terms/attention-mechanism", "/search?q=norm", "/graph", "/nowhere"]
)
def test_accessibility_basics_in_the_browser(watched: Watched, path: str) -> None:
    page = watched.page
    page.goto(path)
    shot(page, "page-" + (path.strip("/").replace("/", "-").split("?")[0] or "home"))
    levels = page.evaluate(HEADINGS)
    assert not html.outline_problems(levels)
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(NO_TEXT) == []
    assert page.locator("html").get_attribute("lang") == "en"
    # The skip link is the first stop, and it leads to the content.
    page.keyboard.press("Tab")
    assert focused(page) == "a[#main]"
    assert not watched.errors, watched.errors


AXE_RUN = """async (tags) => {
  const found = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return found.violations.map(v => `${v.id} (${v.impact}): ${v.help}; at `
    + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '));
}"""


def axe_violations(page: Page) -> list[str]:
    """What axe-core finds wrong with the page as it stands, one line a rule."""
    assert AXE.exists(), f"{AXE} is missing: npm ci --prefix tests/web (the README's test command)"
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(AXE_RUN, AXE_TAGS)
    return found


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/terms/adam-optimizer",
        "/terms/attention-mechanism",
        "/search?q=norm",
        "/graph",
        "/nowhere",
    ],
)
def test_axe_finds_no_violation(watched: Watched, path: str) -> None:
    """axe-core, the engine of the browsers' accessibility audits: no violation of WCAG 2.1 A
    or AA, nor of its best practices, on the home, term, search, graph and 404 pages."""
    page = watched.page
    page.goto(path)
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []
    assert not watched.errors, watched.errors
