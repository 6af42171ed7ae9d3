"""A small TCP proxy of our own between a branch and central, for fault injection on loopback only.

Modes, switchable at any time from the test, soak or benchmark that owns it:

- ``pass``: forward both ways;
- ``refuse``: accept and close at once (the branch sees a reset connection);
- ``delay``: hold each new connection ``delay_s`` seconds before forwarding;
- ``blackhole``: accept and never answer (the branch's read times out);
- ``cut``: forward the request, let central answer (so it has committed), and reset the branch's connection
  before a byte of the answer reaches it — for the next ``cuts`` connections, then back to ``pass``;
- ``hold``: like ``cut``, but keep the branch's connection open and silent (its worker waits for an answer that
  never comes, until the link heals).

``only`` limits ``cut`` and ``hold`` to connections whose request starts with those bytes (e.g. pushes).
"""

import contextlib
import logging
import socket
import struct
import threading
import time

from harness.processes import LOOPBACK

log = logging.getLogger(__name__)

# SO_LINGER on, timeout 0: close() sends a reset, as a dropped link or a crashed peer would.
LINGER_RESET = struct.pack("ii", 1, 0)


class FaultProxy:
    """Listens on a loopback port of its own (``url``, what the branch gets as CENTRAL_URL) and forwards to
    central's port as its mode says; ``set`` switches the mode, ``counts`` says what it did."""

    def __init__(self, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (LOOPBACK, upstream_port)
        self.mode = "pass"
        self.delay_s = 0.0
        self.cuts_left = 0
        self.only = b""
        self.counts = {"connections": 0, "refused": 0, "blackholed": 0, "cut": 0, "held": 0, "delayed": 0}
        self._lock = threading.Lock()
        self._listener = socket.create_server((LOOPBACK, port), reuse_port=False)
        self.port = self._listener.getsockname()[1]
        self._silent: set[socket.socket] = set()  # connections kept open and unanswered (blackhole, hold)
        self._stopping = threading.Event()
        threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def set(self, mode: str, *, delay_s: float = 0.0, cuts: int = 0, only: bytes = b"") -> None:
        if mode not in ("pass", "refuse", "delay", "blackhole", "cut", "hold"):
            raise ValueError(mode)
        with self._lock:
            self.mode, self.delay_s, self.cuts_left, self.only = mode, delay_s, cuts, only
        if mode == "pass":
            self._close_silent()

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._close_silent()

    # ---------------------------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take_mode(self, client: socket.socket) -> str:
        """The mode for this connection. ``cut`` and ``hold`` apply only to connections whose request starts with
        ``only`` (e.g. pushes, not feed pulls), each using up one of ``cuts_left``."""
        with self._lock:
            self.counts["connections"] += 1
            mode, only = self.mode, self.only
        if mode not in ("cut", "hold"):
            return mode
        if only:
            client.settimeout(10)
            try:
                head = client.recv(len(only), socket.MSG_PEEK | socket.MSG_WAITALL)
            except OSError:
                head = b""
            client.settimeout(None)
            if head != only:
                return "pass"
        with self._lock:
            if self.mode != mode or self.cuts_left <= 0:
                return "pass"
            self.cuts_left -= 1
            if self.cuts_left == 0:
                self.mode = "pass"
        return mode

    def _serve(self, client: socket.socket) -> None:
        mode = self._take_mode(client)
        if mode == "refuse":
            self.counts["refused"] += 1
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            client.close()
            return
        if mode == "blackhole":
            self.counts["blackholed"] += 1
            with self._lock:
                self._silent.add(client)
            return
        if mode == "delay":
            self.counts["delayed"] += 1
            time.sleep(self.delay_s)
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        if mode in ("cut", "hold"):
            self._forward_then_drop_answer(client, upstream, hold=mode == "hold")
            return
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _forward_then_drop_answer(self, client: socket.socket, upstream: socket.socket, *, hold: bool) -> None:
        """Forward one request; once central has started answering (so it has committed), never pass the answer
        on: ``cut`` resets the branch's connection, ``hold`` keeps it open and silent until the link heals."""
        answered = threading.Event()

        def watch_answer():
            with contextlib.suppress(OSError):
                upstream.recv(65536)
            answered.set()

        threading.Thread(target=watch_answer, daemon=True).start()
        client.settimeout(0.2)
        try:
            while not answered.is_set():
                try:
                    chunk = client.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                upstream.sendall(chunk)
        except OSError:
            pass
        answered.wait(timeout=30)
        upstream.close()
        with self._lock:
            self.counts["held" if hold else "cut"] += 1
            if hold:
                self._silent.add(client)
                return
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        client.close()

    def _close_silent(self) -> None:
        with self._lock:
            silent, self._silent = self._silent, set()
        for sock in silent:
            sock.close()


class SlowBody:
    """A client that sends a POST's headers, declares a ``length``-byte JSON body and sends it one byte every
    ``every_s`` (a slow-body attack, or a link that stalls): at most ``max_bytes`` bytes and ``give_up_s`` seconds,
    and it stops once the server answers or closes. ``status()`` reads the answer's status."""

    def __init__(
        self,
        port: int,
        path: str,
        authorization: str | None,
        *,
        length: int = 100_000,
        every_s: float = 0.1,
        max_bytes: int = 600,
        give_up_s: float = 60,
    ) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=10)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n" + (f"Authorization: {authorization}\r\n" if authorization else "")
        )
        self.sock.sendall(f"{head}\r\n{{".encode())
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._trickle, args=(every_s, max_bytes, time.monotonic() + give_up_s), daemon=True
        )
        self.thread.start()

    def _trickle(self, every_s: float, max_bytes: int, give_up: float) -> None:
        for _ in range(max_bytes):
            if self.stop.wait(every_s) or time.monotonic() > give_up:
                return
            try:
                self.sock.send(b" ")
            except OSError:  # answered and closed by the server
                return

    def status(self, timeout: float) -> int | None:
        """The status of the server's answer, or None if none came within ``timeout`` seconds."""
        received, deadline = b"", time.monotonic() + timeout
        while b"\r\n" not in received and time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        self.stop.set()
        status = received.split(b" ", 2)[1] if received.startswith(b"HTTP/1.") and b" " in received else b""
        return int(status) if status.isdigit() else None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.sock.close()
