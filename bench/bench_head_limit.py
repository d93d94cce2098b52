"""What bounding the request head costs per request: kb.server's protocol vs uvicorn's, in process.

The end-to-end read benchmark (bench_api.py) is too noisy on a shared machine to see a
difference of a microsecond, so this drives both protocols directly: the same keep-alive
connection (a fake transport) is fed the same request over and over, and a trivial ASGI app
answers it, so what differs between the two is only the protocol's own work. Repeats alternate
between the two; medians and the ratio per repeat are appended to bench/RESULTS.md.

    .venv/bin/python bench/bench_head_limit.py [--requests 20000] [--repeats 7]
"""

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any

from _common import machine_line, publish
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from kb.server import BoundedHttpToolsProtocol

REQUESTS = {
    "wrk's request (Host only)": b"GET /api/v1/terms/adam-optimizer HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8000\r\n\r\n",
    "a browser's request (9 headers, 600 bytes)": b"GET /api/v1/terms/adam-optimizer HTTP/1.1\r\n"
    b"Host: glossary.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) "
    b"Gecko/20100101 Firefox/128.0\r\nAccept: application/json,text/html;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-GB,en;q=0.7\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
    b'If-None-Match: "1-9f1c2a7b0e5d4c3b2a19"\r\nConnection: keep-alive\r\n'
    b"Referer: https://glossary.example.org/terms/adam-optimizer\r\n"
    b"Cookie: theme=dark; session=0123456789abcdef0123456789abcdef01234567\r\n\r\n",
}


async def app(_scope: Any, _receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def per_request(protocol: type[HttpToolsProtocol], request: bytes, n: int) -> float:
    """CPU seconds per request over ``n`` requests on one connection."""
    config = Config(app=app, http=protocol, access_log=False, log_level="warning")
    config.load()
    connection = protocol(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    connection.connection_made(transport)
    start = time.process_time()  # CPU time: a busy machine's other work does not count
    for _ in range(n):
        connection.data_received(request)
        await asyncio.sleep(0)  # the request's task runs to its end
    elapsed = time.process_time() - start
    assert not transport.closed and connection.server_state.total_requests == n
    connection.connection_lost(None)
    return elapsed / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    sides = {"uvicorn": HttpToolsProtocol, "kb": BoundedHttpToolsProtocol}
    rows = []
    for label, request in REQUESTS.items():
        times: dict[str, list[float]] = {name: [] for name in sides}
        for repeat in range(options.repeats + 1):  # the first round warms up
            order = list(sides) if repeat % 2 else list(reversed(sides))
            for name in order:
                gc.collect()
                gc.disable()
                try:
                    seconds = asyncio.run(per_request(sides[name], request, options.requests))
                finally:
                    gc.enable()
                if repeat:
                    times[name].append(seconds)
        ratios = [k / u for k, u in zip(times["kb"], times["uvicorn"], strict=True)]
        rows.append(
            f"| {label} | {statistics.median(times['uvicorn']) * 1e6:.1f} | "
            f"{statistics.median(times['kb']) * 1e6:.1f} | **{statistics.median(ratios):.3f}** "
            f"({min(ratios):.3f} to {max(ratios):.3f}) |"
        )
    report = "\n".join(
        [
            "## Cost of the request-head limit per request, in process, "
            + time.strftime("%Y-%m-%d"),
            "",
            machine_line(),
            f"- {options.requests} requests on one connection per run, {options.repeats} "
            "alternating runs per side; a trivial ASGI app; the machine was shared and busy",
            "",
            "| request | uvicorn httptools, CPU µs | kb.server, CPU µs | kb / uvicorn (range) |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
