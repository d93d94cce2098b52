"""kb.client against the real app: in process (the sync client through the TestClient, the
async one through httpx's ASGI transport, on both databases), once against a live uvicorn,
and against scripted answers for retries and error mapping.

The oracle for every answer is the API itself: what the client returns must equal the raw
JSON of the same request, read into the same schema model.
"""

import email.utils
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kb.client import (
    NO_RETRIES,
    APIError,
    AsyncKBClient,
    Conflict,
    ConnectionFailed,
    ETagCache,
    KBClient,
    NotFound,
    RateLimited,
    RetryPolicy,
    UnexpectedResponse,
    ValidationError,
)
from kb.client.errors import retry_after
from kb.client.protocol import Call, Session, Wait, exchange
from kb.demos.schemas import DemoCatalogue, DemoRun
from kb.schemas import RelatedList, SearchPage, TermDetail, TermPage, TermPath
from tests.kb.glossary_factory import TERMS, write_glossary
from tests.kb.live import free_port, serving

API = "/api/v1"
ROOT = "http://testserver"


class Recorder:
    """The requests a client sent and the status each got."""

    def __init__(self) -> None:
        self.seen: list[tuple[httpx.Request, int]] = []

    def __call__(self, response: httpx.Response) -> None:
        self.seen.append((response.request, response.status_code))

    @property
    def statuses(self) -> list[int]:
        return [status for _, status in self.seen]


@pytest.fixture
def recorder(client: TestClient) -> Recorder:
    recorder = Recorder()
    client.event_hooks["response"].append(recorder)
    return recorder


@pytest.fixture
def kb(client: TestClient) -> Iterator[KBClient]:
    with KBClient(ROOT, http=client) as kb:
        yield kb


def api(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200
    return response.json()


# --- reads -----------------------------------------------------------------------------------


def test_term_is_the_servers_model(kb: KBClient, client: TestClient) -> None:
    term = kb.term("BN")
    assert isinstance(term, TermDetail)
    assert term == TermDetail.model_validate(api(client, f"{API}/terms/batch-normalization"))
    assert kb.term("batch norm").slug == "batch-normalization"  # a name with a space


def test_terms_follows_pagination(kb: KBClient, recorder: Recorder) -> None:
    names = [term.name for term in kb.terms(page_size=2)]
    assert names == sorted((fields["name"] for fields in TERMS.values()), key=str.casefold)
    pages = [request for request, _ in recorder.seen]
    assert [request.url.params["offset"] for request in pages] == ["0", "2", "4", "6"]
    algorithms = list(kb.terms(category="optimization", kind="algorithm", page_size=3))
    assert {t.slug for t in algorithms} == {
        "adam-optimizer", "adamw", "momentum", "rmsprop", "gradient-descent"
    }  # fmt: skip
    assert [t.slug for t in kb.terms(letter="B")] == ["backpropagation", "batch-normalization"]
    assert list(kb.terms(category="empty")) == []


def test_related_path_and_graph(kb: KBClient, client: TestClient) -> None:
    related = kb.related("adam", depth=2, relation="uses")
    raw = api(client, f"{API}/terms/adam/related?depth=2&relation=uses")
    assert related == RelatedList.model_validate(raw)
    assert kb.related("adam-optimizer").items[0].distance == 1
    path = kb.path("AdamW", "backprop")
    assert path == TermPath.model_validate(api(client, f"{API}/graph/path?from=AdamW&to=backprop"))
    assert (path.source, path.target) == ("adamw", "backpropagation")
    graph = kb.graph(category="fundamentals")
    assert {node.slug for node in graph.nodes} == {"batch-normalization", "backpropagation"}


def test_search_suggest_and_categories(kb: KBClient, client: TestClient) -> None:
    page = kb.search("moving averages", kind="algorithm", limit=5)
    raw = api(client, f"{API}/search?q=moving%20averages&kind=algorithm&limit=5")
    assert page == SearchPage.model_validate(raw)
    assert page.items[0].slug == "adam-optimizer"
    assert kb.search("adma").did_you_mean == "Adam"
    assert [s.slug for s in kb.suggest("ad").items][:2] == ["adam-optimizer", "adamw"]
    counts = {c.slug: c.term_count for c in kb.categories().items}
    assert counts == {"optimization": 5, "fundamentals": 2, "empty": 0}
    assert [t.slug for t in kb.category("fundamentals").terms] == [
        "backpropagation", "batch-normalization"
    ]  # fmt: skip
    assert kb.health().terms == len(TERMS)


# --- errors ----------------------------------------------------------------------------------


def test_not_found_carries_the_suggestions(kb: KBClient) -> None:
    with pytest.raises(NotFound) as caught:
        kb.term("adma")
    assert caught.value.status == 404
    assert caught.value.suggestions[0] == "adam-optimizer"
    assert "No term is called 'adma'" in caught.value.detail
    with pytest.raises(NotFound) as caught:
        kb.search("adam", category="astrology")
    assert "optimization" in caught.value.detail


def test_validation_error_carries_the_details(kb: KBClient) -> None:
    with pytest.raises(ValidationError) as caught:
        kb.related("adam", depth=9)
    [error] = caught.value.errors
    assert (error.loc, error.type) == (["query", "depth"], "less_than_equal")
    assert str(caught.value) == "422: query.depth: Input should be less than or equal to 3"
    with pytest.raises(ValidationError) as caught:
        kb.related("adam", relation="likes")
    assert caught.value.errors[0].loc == ["query", "relation"]


# --- the ETag cache --------------------------------------------------------------------------


def test_etag_cache_revalidates_and_reuses_the_body(
    client: TestClient, kb: KBClient, recorder: Recorder
) -> None:
    first = kb.term("adam")
    again = kb.term("adam")
    assert again == first
    assert recorder.statuses == [200, 304]
    request = recorder.seen[1][0]
    assert request.headers["if-none-match"] == client.get(f"{API}/terms/adam").headers["etag"]
    assert kb.etag_cache is not None and len(kb.etag_cache) == 1

    shared = ETagCache()
    KBClient(ROOT, http=client, etag_cache=shared).term("adam")
    assert KBClient(ROOT, http=client, etag_cache=shared).etag_cache is shared
    KBClient(ROOT, http=client, etag_cache=shared).term("adam")
    assert recorder.statuses[-2:] == [200, 304]

    uncached = KBClient(ROOT, http=client, etag_cache=False)
    uncached.term("adam")
    assert "if-none-match" not in recorder.seen[-1][0].headers
    assert recorder.statuses[-1] == 200


def test_an_etag_cache_can_be_shared_and_is_bounded() -> None:
    cache = ETagCache(max_bytes=10)
    cache.put("a", '"1"', b"12345")
    cache.put("b", '"2"', b"12345")
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", '"3"', b"123")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (
        cache.get("a"),
        None,
        cache.get("c"),
    )
    assert len(cache) == 2
    cache.put("huge", '"4"', b"x" * 11)
    assert cache.get("huge") is None
    cache.clear()
    assert len(cache) == 0


# --- demos -----------------------------------------------------------------------------------


def test_demos_run_and_plot(kb: KBClient, client: TestClient, recorder: Recorder) -> None:
    catalogue = kb.demos()
    assert catalogue == DemoCatalogue.model_validate(api(client, f"{API}/demos"))
    assert "reference.optim:Adam" in {s.reference for s in kb.demo("adam").sources}

    run = kb.run_demo("adam", steps=20, optimizers=["adam", "sgd"], seed=3)
    assert isinstance(run, DemoRun)
    assert (run.term, run.seed, run.params["steps"]) == ("adam-optimizer", 3, 20)
    assert set(run.series) >= {"loss/adam", "loss/sgd"}
    body = {"steps": 20, "optimizers": ["adam", "sgd"], "seed": 3}
    raw = client.post(f"{API}/terms/adam/demo", json=body).json()
    assert run.metrics == DemoRun.model_validate(raw).metrics

    svg = kb.demo_plot("adam", steps=20, optimizers=["adam", "sgd"], seed=3)
    assert b"<svg" in svg[:500]
    plot_request = recorder.seen[-1][0]
    assert plot_request.url.params.get_list("optimizers") == ["adam,sgd"]
    assert plot_request.headers["accept"] == "image/svg+xml"
    assert kb.demo_plot("adam", steps=20, optimizers=["adam", "sgd"], seed=3) == svg
    assert recorder.statuses[-1] == 304


def test_demo_errors(kb: KBClient) -> None:
    with pytest.raises(ValidationError) as caught:
        kb.run_demo("adam", nope=1)
    assert caught.value.errors[0].loc == ["body", "nope"]
    with pytest.raises(ValidationError) as caught:
        kb.demo_plot("adam", steps=0)
    assert caught.value.errors[0].loc == ["query", "steps"]
    with pytest.raises(NotFound) as caught:
        kb.run_demo("momentum")
    assert caught.value.suggestions == ["adam-optimizer"]


# --- the async client ------------------------------------------------------------------------


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.recorder = Recorder()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.recorder.seen.append((request, response.status_code))
        return response


@asynccontextmanager
async def async_kb(client: TestClient) -> AsyncIterator[tuple[AsyncKBClient, Recorder]]:
    # The TestClient has run the app's lifespan (app.state is set); the ASGI transport does not.
    transport = RecordingTransport(httpx.ASGITransport(client.app))
    async with AsyncKBClient(ROOT, transport=transport) as kb:
        yield kb, transport.recorder


@pytest.mark.anyio
async def test_async_client_gives_the_same_answers(client: TestClient, kb: KBClient) -> None:
    async with async_kb(client) as (akb, recorder):
        assert await akb.term("BN") == kb.term("BN")
        assert await akb.term("BN") == kb.term("BN")
        assert recorder.statuses == [200, 304]
        names = [term.slug async for term in akb.terms(page_size=3)]
        assert names == [term.slug for term in kb.terms()]
        assert await akb.related("adam", depth=2) == kb.related("adam", depth=2)
        assert await akb.path("adamw", "gd") == kb.path("adamw", "gd")
        assert await akb.search("norm") == kb.search("norm")
        assert await akb.suggest("b") == kb.suggest("b")
        assert await akb.categories() == kb.categories()
        assert await akb.category("empty") == kb.category("empty")
        assert await akb.graph() == kb.graph()
        assert (await akb.health()).terms == len(TERMS)
        assert await akb.demos() == kb.demos()
        assert await akb.demo("adam") == kb.demo("adam")
        run = await akb.run_demo("adam", steps=10, optimizers=["adam"])
        assert run.metrics == kb.run_demo("adam", steps=10, optimizers=["adam"]).metrics
        assert b"<svg" in (await akb.demo_plot("adam", steps=10, optimizers=["adam"]))[:500]
        with pytest.raises(NotFound) as caught:
            await akb.term("adma")
        assert "adam-optimizer" in caught.value.suggestions
        with pytest.raises(ValidationError):
            await akb.search("x", limit=0)


# --- retries, error mapping and the session, on scripted answers -------------------------------

Answer = httpx.Response | Exception


def scripted(*answers: Answer) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that gives these answers in turn (an exception is raised instead)."""
    queue, sent = list(answers), []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), sent


def term_json(slug: str = "adam-optimizer") -> dict[str, Any]:
    return {
        "slug": slug, "version": 1, "name": "Adam", "aliases": [], "summary": "s", "body": "b",
        "category": {"slug": "optimization", "name": "Optimization"}, "kind": "algorithm",
        "related": [], "references": [], "demo": None,
        "links": {"self": "/x", "related": "/x/related", "demo": None},
    }  # fmt: skip


def ok(body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=term_json() if body is None else body, headers=headers)


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


def unavailable(retry_after: str | None = "2") -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(503, json={"detail": "all 2 demo workers are busy"}, headers=headers)


def scripted_client(*answers: Answer, **options: Any) -> tuple[KBClient, list[float], list[Any]]:
    transport, sent = scripted(*answers)
    sleeps: list[float] = []
    kb = KBClient("http://kb.test", transport=transport, sleep=sleeps.append, **options)
    return kb, sleeps, sent


def test_connection_errors_are_retried_with_backoff() -> None:
    kb, sleeps, sent = scripted_client(refused(), httpx.ReadTimeout("slow"), ok())
    assert kb.term("adam").slug == "adam-optimizer"
    assert (sleeps, len(sent)) == ([0.5, 1.0], 3)


def test_no_answer_after_the_retries_is_connection_failed() -> None:
    kb, sleeps, _ = scripted_client(refused(), refused(), refused())
    with pytest.raises(ConnectionFailed) as caught:
        kb.term("adam")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert str(caught.value) == (
        "GET http://kb.test/api/v1/terms/adam: no answer after 3 attempts: "
        "[Errno 111] Connection refused"
    )
    assert sleeps == [0.5, 1.0]
    policy = RetryPolicy(attempts=5, backoff=0.1)
    kb, sleeps, _ = scripted_client(*[refused()] * 5, retry=policy)
    with pytest.raises(ConnectionFailed):
        kb.health()
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8])


def test_an_error_that_is_not_transient_is_not_retried() -> None:
    kb, sleeps, sent = scripted_client(httpx.UnsupportedProtocol("gopher"))
    with pytest.raises(ConnectionFailed):
        kb.term("adam")
    assert (sleeps, len(sent)) == ([], 1)


def test_503_waits_for_retry_after() -> None:
    kb, sleeps, _ = scripted_client(unavailable("2"), unavailable(None), ok())
    assert kb.term("adam").slug == "adam-optimizer"
    assert sleeps == [2.0, 1.0]  # Retry-After, else the backoff of the second retry

    kb, sleeps, _ = scripted_client(unavailable("2"), unavailable("2"), unavailable("3"))
    with pytest.raises(RateLimited) as caught:
        kb.run_demo("adam")  # a pure computation: retried like a GET
    assert (caught.value.status, caught.value.retry_after, sleeps) == (503, 3.0, [2.0, 2.0])
    assert "demo workers are busy" in caught.value.detail

    kb, sleeps, sent = scripted_client(unavailable("3600"))
    with pytest.raises(RateLimited) as caught:
        kb.term("adam")
    assert (caught.value.retry_after, sleeps, len(sent)) == (3600.0, [], 1)

    kb, sleeps, _ = scripted_client(httpx.Response(429, headers={"Retry-After": "1"}), ok())
    kb.term("adam")
    assert sleeps == [1.0]


def test_calls_that_are_not_idempotent_are_never_retried() -> None:
    session = Session("http://kb.test", {}, httpx.Timeout(1), RetryPolicy(), None)
    call = Call("POST", "/terms", bytes, json=b"{}", idempotent=False)
    steps = exchange(call, session)
    request = next(steps)
    assert isinstance(request, httpx.Request) and request.method == "POST"
    with pytest.raises(ConnectionFailed):
        steps.send(refused())
    steps = exchange(call, session)
    next(steps)
    with pytest.raises(RateLimited):
        steps.send(unavailable("1"))
    idempotent = exchange(Call("GET", "/health", bytes), session)
    next(idempotent)
    assert idempotent.send(refused()) == Wait(0.5)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(409, json={"detail": "changed meanwhile"}), Conflict),
        (httpx.Response(412, json={"detail": "If-Match does not match"}), Conflict),
        (httpx.Response(500, json={"detail": "internal server error"}), APIError),
        (httpx.Response(504, json={"detail": "the demo did not finish"}), APIError),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), APIError),
        (httpx.Response(404, text="not JSON"), NotFound),
        (httpx.Response(422, json={"detail": "not a list"}), ValidationError),
    ],
)
def test_error_answers_map_to_the_hierarchy(answer: httpx.Response, error: type[APIError]) -> None:
    kb, _, _ = scripted_client(answer, retry=NO_RETRIES)
    with pytest.raises(error) as caught:
        kb.term("adam")
    assert type(caught.value) is error
    assert caught.value.status == answer.status_code
    assert caught.value.detail  # JSON detail, else the reason phrase ("Bad Gateway")
    assert caught.value.response.status_code == answer.status_code


def test_an_unreadable_answer_is_unexpected_response() -> None:
    kb, _, _ = scripted_client(ok({"slug": "half a term"}), httpx.Response(200, text="{"))
    for _ in range(2):
        with pytest.raises(
            UnexpectedResponse, match=re.escape("GET http://kb.test/api/v1/terms/x")
        ):
            kb.term("x")


def test_retry_after_as_seconds_or_a_date() -> None:
    assert retry_after("7") == 7.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_the_request_carries_key_agent_and_timeout() -> None:
    kb, _, sent = scripted_client(ok(), api_key="s3cret", timeout=4.5)
    kb.term("Adam optimizer")
    [request] = sent
    assert request.url == "http://kb.test/api/v1/terms/Adam%20optimizer"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["user-agent"].startswith("kb-client/")
    assert request.headers["accept"] == "application/json"
    assert request.extensions["timeout"] == httpx.Timeout(4.5).as_dict()
    assert "authorization" not in scripted_client(ok())[0]._session.headers


@pytest.mark.parametrize(
    "base_url",
    ["http://kb.test", "http://kb.test/", "http://kb.test/api/v1", "http://kb.test/api/v1/"],
)
def test_the_base_url_is_the_servers_root(base_url: str) -> None:
    transport, sent = scripted(ok())
    KBClient(base_url, transport=transport).term("adam")
    assert str(sent[0].url) == "http://kb.test/api/v1/terms/adam"


def test_a_base_url_behind_a_path_prefix() -> None:
    transport, sent = scripted(ok(TermPage(items=[], total=0, limit=100, offset=0).model_dump()))
    assert list(KBClient("https://example.org/glossary", transport=transport).terms()) == []
    assert str(sent[0].url).startswith("https://example.org/glossary/api/v1/terms?")


@pytest.mark.parametrize("base_url", ["127.0.0.1:8000", "ftp://kb.test", "http://"])
def test_a_bad_base_url_is_refused_at_once(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        KBClient(base_url)


@pytest.mark.anyio
async def test_async_retries_wait_with_the_given_sleep() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    transport, sent = scripted(refused(), unavailable("1"), ok())
    async with AsyncKBClient("http://kb.test", transport=transport, sleep=sleep) as akb:
        assert (await akb.term("adam")).slug == "adam-optimizer"
    assert (sleeps, len(sent)) == ([0.5, 1.0], 3)
    transport, _ = scripted(refused())
    async with AsyncKBClient("http://kb.test", transport=transport, retry=NO_RETRIES) as akb:
        with pytest.raises(ConnectionFailed):
            await akb.health()


def test_an_injected_http_client_is_left_open() -> None:
    transport, _ = scripted(ok())
    http = httpx.Client(transport=transport)
    with KBClient("http://kb.test", http=http) as kb:
        kb.term("adam")
    assert not http.is_closed
    owned = KBClient("http://kb.test", transport=transport)
    owned.close()
    assert owned._http.is_closed


# --- a live server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("live")
    with serving(write_glossary(root / "data"), f"sqlite:///{root / 'kb.sqlite3'}") as url:
        yield url


def test_against_a_live_server(live_url: str) -> None:
    statuses: list[int] = []
    hooks: dict[str, list[Callable[..., Any]]] = {
        "response": [lambda response: statuses.append(response.status_code)]
    }
    with httpx.Client(event_hooks=hooks) as http, KBClient(live_url, http=http) as kb:
        assert kb.term("BN").slug == "batch-normalization"
        assert kb.term("BN").slug == "batch-normalization"
        assert kb.term("bn").slug == "batch-normalization"  # another URL: not cached
        assert statuses == [200, 304, 200]
        assert len(list(kb.terms(page_size=4))) == len(TERMS)
        assert [n.slug for n in kb.related("adam", relation="uses").items] == [
            "momentum",
            "rmsprop",
        ]
        assert kb.search("adma").did_you_mean == "Adam"
        run = kb.run_demo("adam", steps=10, optimizers=["adam"], seed=2)
        assert (run.seed, run.params["steps"]) == (2, 10)
        assert b"<svg" in kb.demo_plot("adam", steps=10, optimizers=["adam"], seed=2)[:500]
        with pytest.raises(NotFound):
            kb.term("nothing-like-it")


def test_a_server_that_is_not_there() -> None:
    sleeps: list[float] = []
    kb = KBClient(f"http://127.0.0.1:{free_port()}", sleep=sleeps.append)
    with pytest.raises(ConnectionFailed, match="no answer after 3 attempts"):
        kb.term("adam")
    assert sleeps == [0.5, 1.0]
