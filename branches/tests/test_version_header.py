"""A branch names its release on every push and pull, to a stand-in central on loopback that records the headers
it was sent."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from branches import recovery
from branches.pull import changes_pull
from branches.push import outbox_push
from ecomarket.version import VERSION, VERSION_HEADER

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


class _Central(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]] = []

    def _answer(self, body: dict) -> None:
        type(self).seen.append((self.command, self.path.split("?")[0], self.headers.get(VERSION_HEADER)))
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["events"]
        seq = max(event["seq"] for event in events)
        self._answer(
            {"accepted": len(events), "duplicates": 0, "conflicts": [], "rejected": [], "high_water_seq": seq,
             "missing_seqs": []}
        )  # fmt: skip

    def do_GET(self):
        self._answer({"changes": [], "next_cursor": 0, "newest_id": 0, "resync": None})

    def log_message(self, *args):
        pass


@pytest.fixture
def central(settings, monkeypatch):
    _Central.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Central)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CENTRAL_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.BRANCH_CREDENTIAL = "test-credential"
    monkeypatch.setattr(recovery, "_checked_in_pid", os.getpid())  # this box was not restored
    yield _Central
    server.shutdown()
    server.server_close()


def test_every_push_and_pull_names_this_release(central, shelf, cashier_client):
    assert cashier_client.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json")

    outbox_push(force=True)
    changes_pull()

    paths = {(method, path) for method, path, _ in central.seen}
    assert ("POST", "/api/v1/sync/events") in paths
    assert ("GET", "/api/v1/sync/changes") in paths
    assert {version for _, _, version in central.seen} == {VERSION}
