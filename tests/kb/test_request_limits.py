"""Requests that try to exhaust the server: bodies, keys and malformed input (kb.api.gate).

The ASGI tests count what the application reads; the live tests run ``kb serve`` and talk to it
over raw sockets, as a hostile or broken client would.
"""

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from httpx import Response

from kb.api import errors
from kb.api.gate import MAX_BODY_BYTES
from kb.app import create_app
from kb.auth import FailedKeyLimit, new_key
from kb.config import Settings
from kb.content import ContentError, read_glossary
from kb.schemas import MAX_BODY_CHARS
from kb.server import MAX_HEAD_BYTES, REDACTED, redact
from tests.kb.glossary_factory import write_glossary
from tests.kb.live import Server, live_server

KEY, DIGEST = new_key()
AUTH = {"authorization": f"Bearer {KEY}"}
MiB = 1 << 20
NEW_TERM: dict[str, Any] = {
    "slug": "nadam",
    "name": "NAdam",
    "category": "optimization",
    "kind": "algorithm",
    "summary": "Adam with a Nesterov look-ahead in the first moment.",
    "body": "The momentum term looks one step ahead.",
}
REFERENCE = {
    "title": "Incorporating Nesterov Momentum into Adam",
    "authors": ["Timothy Dozat"],
    "year": 2016,
    "venue": "ICLR Workshop",
    "url": "https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ",
}


# --- ASGI: what the application reads before it answers ---------------------------------------


def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterator[bytes],
) -> tuple[int, dict[str, str], bytes, int]:
    """Run one request through ``app``: status, headers, body, and how many times the
    application asked for the next piece of the request body."""
    reads = 0
    sent: list[dict[str, Any]] = []

    ahead = [next(chunks, None)]

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        chunk = ahead.pop()
        if chunk is None:
            return {"type": "http.disconnect"}
        ahead.append(next(chunks, None))
        return {"type": "http.request", "body": chunk, "more_body": ahead[0] is not None}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    answer = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], answer, body, reads


def endless(chunk: int = 64 * 1024) -> Iterator[bytes]:
    while True:
        yield b"x" * chunk


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The app without its lifespan: the gate answers these requests before any database."""
    return create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'kb.sqlite3'}", api_keys={"alice": DIGEST})
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/terms"),
        ("PUT", "/api/v1/terms/adam"),
        ("PATCH", "/api/v1/terms/adam"),
        ("DELETE", "/api/v1/terms/adam"),
        ("POST", "/api/v1/categories"),
        ("PATCH", "/api/v1/categories/optimization"),
    ],
)
@pytest.mark.parametrize("key", [None, "Bearer kb_wrong", "Basic x"])
def test_a_write_without_a_valid_key_is_refused_before_its_body_is_read(
    app: FastAPI, method: str, path: str, key: str | None
) -> None:
    headers = {"content-type": "image/png", "content-length": str(500 * MiB)}
    if key is not None:
        headers["authorization"] = key
    status, answer, body, reads = call(app, method, path, headers, endless())
    assert (status, reads) == (401, 0)
    assert answer["connection"] == "close"
    assert "www-authenticate" in answer and json.loads(body)["detail"]


def test_a_small_refused_body_is_dropped_and_the_connection_kept(app: FastAPI) -> None:
    headers = {"content-type": "application/json", "content-length": "2"}
    status, answer, _, reads = call(app, "POST", "/api/v1/terms", headers, iter([b"{}"]))
    assert (status, reads) == (401, 1)  # refused first, then the two bytes were read
    assert "connection" not in answer


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/terms", AUTH),
        ("/api/v1/categories", AUTH),
        ("/api/v1/terms/adam-optimizer/demo", {}),
    ],
)
def test_an_oversized_body_is_refused_as_it_streams_in(
    app: FastAPI, path: str, headers: dict[str, str]
) -> None:
    chunked = {**headers, "content-type": "application/json", "transfer-encoding": "chunked"}
    status, answer, body, reads = call(app, "POST", path, chunked, endless())
    assert status == 413 and answer["connection"] == "close"
    assert str(MAX_BODY_BYTES) in json.loads(body)["detail"]
    assert reads == MAX_BODY_BYTES // (64 * 1024) + 1  # not one piece more than it takes

    declared = {**headers, "content-type": "application/json", "content-length": str(2 * MiB)}
    status, answer, _, reads = call(app, "POST", path, declared, endless())
    assert (status, reads, answer["connection"]) == (413, 0, "close")


# --- live: kb serve ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("live")
    data = write_glossary(root / "data")
    env = {"KB_API_KEYS": json.dumps({"alice": DIGEST})}
    with live_server(data, f"sqlite:///{root / 'kb.sqlite3'}", env=env) as server:
        yield server


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response from ``sock``: status, headers (lowercase names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without an answer after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body[:length]


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stream_until_answered(sock: socket.socket, limit: int) -> int:
    """Send body bytes until the server answers (or stops taking them): how many were sent."""
    chunk, sent = b"x" * (256 * 1024), 0
    while sent < limit and not select.select([sock], [], [], 0)[0]:
        try:
            sock.sendall(chunk)
        except OSError:  # the server closed the connection: its answer is waiting
            break
        sent += len(chunk)
    return sent


@pytest.mark.parametrize("headers", [{}, AUTH], ids=["no key", "key"])
def test_oversized_streamed_bodies_keep_the_server_small(
    live: Server, headers: dict[str, str]
) -> None:
    before = live.rss_bytes()
    total = 500 * MiB
    for _ in range(3):
        with connect(live) as sock:
            head = {**headers, "Content-Type": "application/json", "Content-Length": str(total)}
            sock.sendall(request_head("POST", "/api/v1/terms", head))
            sent = stream_until_answered(sock, total)
            status, answer, body = read_response(sock)
        assert status == (413 if headers else 401), body
        assert answer["connection"] == "close" and json.loads(body)["detail"]
        assert sent < 64 * MiB  # the server stopped taking the body long before its end
    # Three 500 MiB bodies held whole took 3 GiB before; what is left is allocator noise.
    assert live.rss_bytes() - before < 32 * MiB


# --- malformed bodies: 400/413/415/422 with a JSON detail, never 500 -----------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The whole app on SQLite, with its lifespan; writes refused for their input change
    nothing, so the tests of this module share it."""
    root = tmp_path_factory.mktemp("api")
    settings = Settings(
        database_url=f"sqlite:///{root / 'kb.sqlite3'}",
        data_dir=write_glossary(root / "data"),
        cache_ttl=0,
        api_keys={"alice": DIGEST},
    )
    with TestClient(create_app(settings)) as client:
        yield client


DEMO = "/api/v1/terms/adam-optimizer/demo"
JSON = {"content-type": "application/json"}
DEEP = b"[" * 100_000 + b"]" * 100_000
SURROGATE = b'{"seed": "\\ud800"}'


def _sent(api: TestClient, method: str, path: str, content: bytes, **headers: str) -> Response:
    if method in ("PUT", "PATCH"):
        headers["if-match"] = api.get(path).headers["etag"]
    return api.request(method, path, content=content, headers={**JSON, **AUTH, **headers})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", DEMO),
        ("POST", "/api/v1/terms"),
        ("PUT", "/api/v1/terms/adamw"),
        ("PATCH", "/api/v1/terms/adamw"),
        ("POST", "/api/v1/categories"),
        ("PATCH", "/api/v1/categories/optimization"),
    ],
)
@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (DEEP, {}, (400, 422), "nested too deeply"),
        (SURROGATE, {}, (422,), ""),
        (b'{"name": "\xff\xfe"}', {}, (400,), "not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), {"content-type": "image/png"}, (415,), "JSON"),
        (b'{"name": 1}', {"content-type": "text/plain"}, (415,), "JSON"),
    ],
    ids=["deep", "surrogate", "not-utf8", "png", "text"],
)
def test_malformed_bodies_are_client_errors(
    api: TestClient,
    method: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: tuple[int, ...],
    words: str,
) -> None:
    response = _sent(api, method, path, content, **headers)
    assert response.status_code in status, response.text
    detail = response.json()["detail"]
    assert words in json.dumps(detail)
    if response.status_code == 422:  # what it echoes of the input is short and encodable
        assert all(len(json.dumps(error.get("input"))) < 200 for error in detail)


def test_a_lone_surrogate_is_named_and_echoed_escaped(api: TestClient) -> None:
    demo = _sent(api, "POST", DEMO, SURROGATE)
    assert demo.json()["detail"][0]["input"] == "\\ud800"
    term = _sent(api, "POST", "/api/v1/terms", json.dumps({**NEW_TERM, "name": "x\ud800"}).encode())
    assert term.status_code == 422
    (error,) = term.json()["detail"]
    assert error["loc"] == ["body", "name"] and "unicode" in error["msg"]


def test_a_deep_merge_patch_is_refused(api: TestClient) -> None:
    patch: Any = "x"
    for _ in range(900):  # parses (just), and is merged into the record before it is checked
        patch = {"a": patch}
    response = _sent(api, "PATCH", "/api/v1/terms/adamw", json.dumps({"body": patch}).encode())
    assert response.status_code in (400, 422), response.text


def test_a_large_body_missing_fields_gets_a_short_422(api: TestClient) -> None:
    junk = {"name": "x" * 900_000, "notes": ["y" * 1000] * 50}
    response = _sent(api, "POST", "/api/v1/terms", json.dumps(junk).encode())
    assert response.status_code == 422
    assert len(response.content) < 4096
    assert {tuple(error["loc"]) for error in response.json()["detail"]} >= {
        ("body", "slug"),
        ("body", "body"),
        ("body", "name"),
    }


# --- the largest record: one definition for kb check, kb load and writes --------------------


OVERSIZED = [
    ("body", "x" * (MAX_BODY_CHARS + 1)),
    ("summary", "x" * 301),
    ("aliases", [f"alias {i}" for i in range(33)]),
    ("references", [REFERENCE] * 31),
]


@pytest.mark.parametrize(("field", "value"), OVERSIZED, ids=[f for f, _ in OVERSIZED])
def test_oversized_fields_are_refused_by_writes_and_by_kb_check(
    api: TestClient, tmp_path: Path, field: str, value: Any
) -> None:
    written = api.post("/api/v1/terms", json={**NEW_TERM, field: value}, headers=AUTH)
    assert written.status_code == 422, written.text
    assert written.json()["detail"][0]["loc"][:2] == ["body", field]

    terms = {"nadam": {**{k: v for k, v in NEW_TERM.items() if k != "slug"}, field: value}}
    with pytest.raises(ContentError) as error:  # what kb check and kb load both read with
        read_glossary(write_glossary(tmp_path / "data", terms=terms))
    assert field in str(error.value)


def test_an_oversized_category_is_refused(api: TestClient) -> None:
    new = {"slug": "huge", "name": "Huge", "description": "x" * 2001}
    response = api.post("/api/v1/categories", json=new, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "description"]


# --- after an error, the connection is still usable or closed with Connection: close --------


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


ERRORS = [
    ("POST", DEMO, {"Content-Type": "application/json"}, SURROGATE, 422),
    ("POST", DEMO, {"Content-Type": "application/json"}, DEEP, 422),
    ("POST", DEMO, {"Content-Type": "application/json"}, b'{"seed": "\xff"}', 400),
    ("POST", DEMO, {"Content-Type": "image/png"}, b"\x89PNG", 415),
    ("POST", DEMO, {"Content-Type": "application/json"}, b" " * (MAX_BODY_BYTES + 1), 413),
    ("POST", "/api/v1/terms", {"Content-Type": "application/json"}, b"{}", 401),
    ("POST", "/api/v1/terms", {}, b"", 401),
    ("POST", "/api/v1/terms", {**AUTH, "Content-Type": "application/json"}, SURROGATE, 422),
    ("POST", "/api/v1/terms", {**AUTH, "Content-Type": "application/json"}, DEEP, 400),
    ("GET", "/api/v1/terms/no-such-term", {}, b"", 404),
    ("DELETE", "/api/v1/health", {}, b"", 405),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    ERRORS,
    ids=[f"{status}-{method}-{path.rsplit('/', 1)[-1]}" for method, path, _, _, status in ERRORS],
)
def test_after_an_error_the_connection_is_usable_or_said_closed(
    live: Server, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    with connect(live) as sock:
        head = {**headers, "Content-Length": str(len(body))}
        sock.sendall(request_head(method, path, head) + body)
        got, answer, _ = read_response(sock)
        assert got == status
        if answer.get("connection") == "close":
            assert _closed(sock)
            return
        sock.sendall(request_head("GET", "/api/v1/health", {}))
        assert read_response(sock)[0] == 200


def test_a_500_says_connection_close() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500 and response.headers["connection"] == "close"


# --- request heads: bounded in kb serve itself (kb.server) ----------------------------------


def test_an_endless_header_gets_431_and_other_connections_keep_answering(live: Server) -> None:
    answered: list[int] = []
    stop = threading.Event()

    def reader() -> None:  # another client, on its own keep-alive connection
        with connect(live) as sock:
            while not stop.is_set():
                sock.sendall(request_head("GET", "/api/v1/terms/adamw", {}))
                answered.append(read_response(sock)[0])

    def answers_grow() -> None:
        seen = len(answered)
        while len(answered) < seen + 3 and other.is_alive():
            time.sleep(0.01)
        assert len(answered) >= seen + 3, "the other client stopped being answered"

    other = threading.Thread(target=reader)
    other.start()
    try:
        answers_grow()
        with connect(live) as sock:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            sent = stream_until_answered(sock, 150 * MiB)
            if not _closed_without_answer(sock):
                status, answer, body = read_response(sock)
                assert status == 431 and answer["connection"] == "close"
                assert str(MAX_HEAD_BYTES) in json.loads(body)["detail"]
        assert sent < 4 * MiB  # the server stopped reading right after the limit
        answers_grow()
    finally:
        stop.set()
        other.join(timeout=10)
    assert set(answered) == {200}


def _closed_without_answer(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` with nothing left to read (an answer is allowed to be
    lost when the server resets a connection it stopped reading)."""
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except ConnectionResetError:
        return True
    return data == b""


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "a" * (MAX_HEAD_BYTES + 1)},
        {f"X-Many-{i}": "b" * 100 for i in range(MAX_HEAD_BYTES // 100)},
    ],
    ids=["one long", "many"],
)
def test_an_oversized_head_sent_at_once_gets_431(live: Server, headers: dict[str, str]) -> None:
    with connect(live) as sock:
        sock.sendall(request_head("GET", "/api/v1/health", headers))
        status, answer, _ = read_response(sock)
    assert status == 431 and answer["connection"] == "close"


@pytest.mark.parametrize("pieces", [1, 8])
def test_a_head_under_the_limit_is_served(live: Server, pieces: int) -> None:
    head = request_head("GET", "/api/v1/health", {"X-Big": "a" * (MAX_HEAD_BYTES - 1024)})
    with connect(live) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        step = len(head) // pieces + 1
        for start in range(0, len(head), step):
            sock.sendall(head[start : start + step])
            time.sleep(0.01 if pieces > 1 else 0)
        assert read_response(sock)[0] == 200
        sock.sendall(request_head("GET", "/api/v1/health", {}))  # the count starts again
        assert read_response(sock)[0] == 200


# --- secrets in the access log, and guessing keys ---------------------------------------------


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        ("/api/v1/terms?api_key=SECRET&limit=5", "/api/v1/terms?api_key=[redacted]&limit=5"),
        ("/x?limit=5&access_token=SECRET", "/x?limit=5&access_token=[redacted]"),
        ("/x?PASSWORD=SECRET#top", "/x?PASSWORD=[redacted]#top"),
        ("/x?api%5Fkey=SECRET", "/x?api%5Fkey=[redacted]"),
        ("/x?%61pi_%6Bey=SECRET", "/x?api_key=[redacted]"),
        (f"/x?q={KEY}", "/x?q=[redacted]"),
        ("/api/v1/search?q=key+points&limit=5", "/api/v1/search?q=key+points&limit=5"),
        ("/api/v1/terms/kb_", "/api/v1/terms/kb_"),
    ],
)
def test_secret_looking_query_values_are_redacted(logged: str, expected: str) -> None:
    assert redact(logged) == expected


def test_keys_in_query_strings_never_reach_the_access_log(live: Server) -> None:
    for query in (f"api_key={KEY}", f"token={KEY}", f"q={KEY}", f"apikey={KEY[:-1]}"):
        with connect(live) as sock:
            sock.sendall(request_head("GET", f"/api/v1/terms?{query}", {}))
            read_response(sock)
    log = live.output()
    assert log.count("/api/v1/terms?") >= 4  # the requests were logged...
    assert KEY[:-1] not in log and REDACTED in log  # ...without the key


def test_a_burst_of_wrong_keys_ends_in_429_and_reads_go_on(api: TestClient) -> None:
    limit = api.app.state.failed_keys  # type: ignore[attr-defined]
    api.app.state.failed_keys = FailedKeyLimit()  # type: ignore[attr-defined]
    try:
        wrong = {"authorization": "Bearer kb_guess"}
        statuses = [api.post("/api/v1/terms", json=NEW_TERM, headers=wrong).status_code]
        statuses += [
            api.delete("/api/v1/terms/adamw", headers=wrong).status_code for _ in range(20)
        ]
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
        refused = api.post("/api/v1/terms", json=NEW_TERM, headers=AUTH)  # even the right key
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "try again" in refused.json()["detail"]
        assert api.get("/api/v1/terms/adamw").status_code == 200  # reads are not limited
        missing = api.post("/api/v1/terms", json=NEW_TERM)
        assert missing.status_code == 401  # no key is no guess: it still says what to send
    finally:
        api.app.state.failed_keys = limit  # type: ignore[attr-defined]


def test_failed_key_limit_refills_and_forgets_the_oldest_client() -> None:
    now = [0.0]
    limit = FailedKeyLimit(burst=3, per_s=0.5, max_clients=2, clock=lambda: now[0])
    for _ in range(3):
        limit.check("a")
        limit.failed("a")
    with pytest.raises(HTTPException) as refused:
        limit.check("a")
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": "2"}
    now[0] = 2.0  # one try back
    limit.check("a")
    limit.failed("a")
    with pytest.raises(HTTPException):
        limit.check("a")
    limit.failed("b")
    limit.failed("c")  # "a" failed longest ago: forgotten, its tries are whole again
    limit.check("a")
