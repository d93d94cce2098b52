"""A loopback TCP proxy that a test can freeze, stop and resume: the database outage of a
test's own, without touching the shared PostgreSQL server.

Frozen, it forwards nothing and accepts nothing, but keeps every socket open, as a stopped
(SIGSTOP) or partitioned host does: the kernel still completes new handshakes, nothing answers.
Stopped, it closes every connection and its listening socket: connecting is refused.
"""

import selectors
import socket
import threading
import time
from types import TracebackType


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener: socket.socket | None = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._peers: dict[socket.socket, socket.socket] = {}
        self._frozen = False
        self._running = True
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __enter__(self) -> "Proxy":
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self.stop()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def stop(self) -> None:
        """Close every connection, and refuse new ones."""
        with self._lock:
            for sock in self._peers:
                sock.close()
            self._peers.clear()
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    def resume(self) -> None:
        """Forward again (after ``freeze``), or listen again on the same port (after ``stop``)."""
        with self._lock:
            if self._listener is None:
                self._listener = socket.create_server(("127.0.0.1", self.port))
            self._frozen = False

    def _run(self) -> None:
        while self._running:
            with self._lock:
                if self._frozen or (self._listener is None and not self._peers):
                    ready = []
                else:
                    ready = self._ready()
                for sock in ready:
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peers:
                        self._forward(sock)
            if not ready:
                time.sleep(0.01)

    def _ready(self) -> list[socket.socket]:
        socks = list(self._peers) + ([self._listener] if self._listener is not None else [])
        with selectors.DefaultSelector() as selector:
            for sock in socks:
                selector.register(sock, selectors.EVENT_READ)
            return [key.fileobj for key, _ in selector.select(0.01)]  # type: ignore[misc]

    def _accept(self) -> None:
        assert self._listener is not None
        client, _ = self._listener.accept()
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        self._peers[client] = upstream
        self._peers[upstream] = client

    def _forward(self, sock: socket.socket) -> None:
        other = self._peers[sock]
        try:
            data = sock.recv(65536)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        for end in (sock, other):
            self._peers.pop(end, None)
            end.close()
