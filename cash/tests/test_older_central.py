"""A store upgraded before head office: the cash drawer's events reach a central that does not know their types
yet. It rejects them; the store parks them, keeps delivering its sales, and re-sends them after the upgrade
(docs/protocol.md). Against a stand-in central on loopback that answers as an older central does."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from branches import recovery
from branches.models import OutboxEvent, OutboxState
from branches.push import outbox_push, parked_events_retry

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


class _OlderCentral(BaseHTTPRequestHandler):
    """Stores every event of a type it knows and rejects the others as ``unknown_type``, as central's
    ``event_effect`` does; ``knows_cash`` is the upgrade."""

    knows_cash = False
    stored: list[dict] = []

    def do_POST(self):
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["events"]
        rejected = []
        for event in events:
            if event["type"].startswith("cash.") and not self.knows_cash:
                rejected.append({"id": event["id"], "code": "unknown_type", "detail": "not known"})
            else:
                type(self).stored.append(event)
        body = json.dumps(
            {
                "accepted": len(events) - len(rejected),
                "duplicates": 0,
                "conflicts": [],
                "rejected": rejected,
                "high_water_seq": max(event["seq"] for event in events),
                "missing_seqs": [],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def older_central(settings, monkeypatch):
    _OlderCentral.knows_cash, _OlderCentral.stored = False, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OlderCentral)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CENTRAL_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.BRANCH_CREDENTIAL = "test-credential"
    monkeypatch.setattr(recovery, "_checked_in_pid", os.getpid())  # this box was not restored
    yield _OlderCentral
    server.shutdown()
    server.server_close()


def test_an_older_central_rejects_the_drawer_s_events_the_store_parks_them_and_resends_them_after(
    older_central, shelf, manager_client, cashier_client
):
    manager_client.post("/api/v1/registers", {"code": "T1", "name": "Caja 1"}, format="json")
    session = cashier_client.post(
        "/api/v1/cash-sessions", {"register": "T1", "opening_float": "100.00"}, format="json"
    ).json()
    sale = {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}], "register": "T1"}
    assert cashier_client.post("/api/v1/sales", sale, format="json").status_code == 201
    cashier_client.post(f"/api/v1/cash-sessions/{session['id']}/close", {"counted": {"cash": "101.25"}}, format="json")

    outbox_push(force=True)

    states = dict(OutboxEvent.objects.values_list("type", "state"))
    assert states["sale.completed"] == OutboxState.DELIVERED
    assert states["cash.session_opened"] == states["cash.session_closed"] == OutboxState.PARKED
    assert {event["type"] for event in older_central.stored} == {"stock.received", "sale.completed"}

    older_central.knows_cash = True  # head office upgraded; a manager re-sends the parked events
    assert parked_events_retry() == 2
    outbox_push(force=True)

    assert set(OutboxEvent.objects.values_list("state", flat=True)) == {OutboxState.DELIVERED}
    assert [e["type"] for e in older_central.stored][-2:] == ["cash.session_opened", "cash.session_closed"]
