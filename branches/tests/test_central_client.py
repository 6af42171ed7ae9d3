"""A store behind a corporate proxy reaches head office: the link's HTTP session takes HTTPS_PROXY (and NO_PROXY,
REQUESTS_CA_BUNDLE) from the environment when CENTRAL_TRUST_ENV, and trusts the chain's private CA
(CENTRAL_CA_BUNDLE). Real TLS on loopback with a certificate made here, and a real CONNECT proxy in front of it."""

import http.server
import json
import select
import socket
import socketserver
import ssl
import subprocess
import threading

import pytest
import requests

from branches.central_client import central_session

pytestmark = pytest.mark.mode("branch")


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory):
    """A CA of the chain's own and a certificate it signed for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("ca")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=EcoMarket chain CA",
    )  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "central.key", "-out", "central.csr", "-subj", "/CN=x")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "central.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "central.pem", "-days", "2", "-extfile", "san.cnf",
    )  # fmt: skip
    return folder


class _Central(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_central(private_ca):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Central)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(private_ca / "central.pem", private_ca / "central.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTPS proxy as a company runs one: CONNECT host:port, then bytes both ways. Loopback targets only."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.tunnels: list[str] = []
        super().__init__(("127.0.0.1", 0), _Tunnel)


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        host, port = target.rsplit(":", 1)
        if method != "CONNECT" or host != "127.0.0.1":
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            return
        self.server.tunnels.append(target)
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            sockets = [self.request, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 5)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.request else self.request).sendall(data)


@pytest.fixture
def corporate_proxy(monkeypatch):
    proxy = _ConnectProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    for name in ("NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def test_link_reaches_central_through_the_proxy_with_the_private_ca(settings, tls_central, private_ca, corporate_proxy):
    settings.CENTRAL_URL, settings.CENTRAL_TRUST_ENV = tls_central, True
    settings.CENTRAL_CA_BUNDLE = str(private_ca / "ca.pem")

    answer = central_session().get(f"{tls_central}/api/v1/sync/changes", timeout=10)

    assert answer.json() == {"path": "/api/v1/sync/changes"}
    assert corporate_proxy.tunnels == [tls_central.removeprefix("https://")]


def test_requests_ca_bundle_from_the_environment_is_honoured(
    settings, tls_central, private_ca, corporate_proxy, monkeypatch
):
    settings.CENTRAL_URL, settings.CENTRAL_TRUST_ENV, settings.CENTRAL_CA_BUNDLE = tls_central, True, ""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(private_ca / "ca.pem"))

    assert central_session().get(f"{tls_central}/", timeout=10).status_code == 200
    assert len(corporate_proxy.tunnels) == 1


def test_a_certificate_from_an_unknown_ca_is_refused(settings, tls_central, corporate_proxy):
    settings.CENTRAL_URL, settings.CENTRAL_TRUST_ENV, settings.CENTRAL_CA_BUNDLE = tls_central, True, ""

    with pytest.raises(requests.exceptions.SSLError):
        central_session().get(f"{tls_central}/", timeout=10)


def test_without_trust_env_the_proxy_is_never_used(settings, tls_central, private_ca, corporate_proxy):
    """A central on this machine (CENTRAL_TRUST_ENV's default for loopback): a proxy meant for the internet in the
    environment must not see the call."""
    settings.CENTRAL_URL, settings.CENTRAL_TRUST_ENV = tls_central, False
    settings.CENTRAL_CA_BUNDLE = str(private_ca / "ca.pem")

    assert central_session().get(f"{tls_central}/", timeout=10).status_code == 200
    assert corporate_proxy.tunnels == []
