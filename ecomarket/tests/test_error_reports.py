"""Errors reach someone: with SENTRY_DSN set, an error in a view and a failed Celery task (a real worker on a real
broker) arrive at the DSN's endpoint (here a stand-in HTTP server on loopback that keeps what it is sent), with no
customer contact and no credential in them."""

import gzip
import json
import os
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import sentry_sdk

from ecomarket.error_reports import event_scrub, sentry_init
from harness.processes import CeleryWorker, poll, port_free

CONTACT = {"name": "Ana Pérez", "phone": "+54 11 5555-0101", "email": "ana@example.com"}
CREDENTIAL = "ecb_branch-secret-for-this-test-0123456789"


class StandIn:
    """Sentry's ingestion endpoint as far as the SDK can tell: it answers 200 to every envelope and keeps the
    envelopes' text."""

    def __init__(self) -> None:
        self.received: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                stand_in.received.append(body.decode(errors="replace"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port_free()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"

    def events(self) -> list[dict]:
        """Every error event received so far (an envelope is a header line, then item header and payload lines)."""
        found = []
        for envelope in self.received:
            lines = envelope.split("\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    def text(self) -> str:
        return "\n".join(self.received)


@pytest.fixture
def stand_in():
    server = StandIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def assert_nothing_secret(text: str, *secrets: str) -> None:
    for secret in [*CONTACT.values(), CREDENTIAL, *secrets]:
        assert secret not in text, secret


@pytest.mark.mode("branch")
@pytest.mark.django_db
def test_an_error_in_a_view_arrives_without_the_customer_contact_or_the_token(
    stand_in, shelf, cashier, monkeypatch, settings
):
    from rest_framework.test import APIClient

    from inventory import services

    def failing_sale(**kwargs):  # the fault: a service that breaks, quoting the contact it was given and credentials
        contact = kwargs["customer"]
        raise RuntimeError(f"no sale for {contact['email']} {contact['phone']} ({CREDENTIAL}, Token {cashier.token})")

    monkeypatch.setattr(services, "sale_create", failing_sale)
    sentry_init(
        dsn=stand_in.dsn, environment="test", release="ecomarket@test", mode="branch", branch="B001", secrets=()
    )
    try:
        till = APIClient(raise_request_exception=False)
        till.credentials(HTTP_AUTHORIZATION=f"Token {cashier.token}")
        body = {"id": str(uuid.uuid4()), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}], "customer": CONTACT}
        answer = till.post("/api/v1/sales", body, format="json", HTTP_COOKIE=f"sessionid={CREDENTIAL}")
        sentry_sdk.flush(timeout=10)
        (event,) = poll(lambda: stand_in.events(), timeout=30, what="the view's error at the stand-in")
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.init()  # no DSN: the rest of the session sends nothing

    assert answer.status_code == 500
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["mode"] == "branch" and event["tags"]["branch"] == "B001"
    assert event["transaction"] == "/api/v1/sales"  # the test client has no WSGI layer: no URL or headers
    assert_nothing_secret(stand_in.text(), cashier.token)


@pytest.mark.mode("branch")
@pytest.mark.processes
def test_a_failing_task_in_a_real_worker_arrives_without_the_credential(stand_in, branch_node, tmp_path):
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    redis.Redis.from_url(redis_url).flushdb()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backups' folder should be")
    metrics_token = "metrics-secret-for-this-test"
    branch_node.env.update(
        {
            "CELERY_BROKER_URL": redis_url,
            "SENTRY_DSN": stand_in.dsn,
            "BRANCH_CREDENTIAL": CREDENTIAL,
            "METRICS_TOKEN": metrics_token,
            "BACKUP_DIR": str(blocked / "backups"),  # the backup task fails: its folder cannot be made
        }
    )
    worker = CeleryWorker(branch_node).start()
    try:
        branch_node.manage("shell", "-c", "from branches.tasks import branch_backup_task; branch_backup_task.delay()")
        events = poll(
            lambda: [e for e in stand_in.events() if "celery" in json.dumps(e.get("tags", {})) or e.get("transaction")],
            timeout=90,
            interval=0.2,
            what="the failed task's event at the stand-in",
        )
    finally:
        worker.stop()

    event = events[0]
    assert event["transaction"] == "branches.tasks.branch_backup_task"
    assert event["exception"]["values"][-1]["type"] in ("NotADirectoryError", "FileExistsError")
    assert event["tags"]["branch"] == "B001"
    assert_nothing_secret(stand_in.text(), metrics_token, branch_node.environ()["SECRET_KEY"])


def test_the_scrub_drops_bodies_headers_and_frame_variables_and_masks_contacts_and_credentials_in_text():
    event = {
        "request": {"data": {"customer": CONTACT}, "cookies": {"sessionid": "x"}, "headers": {"Authorization": "y"}},
        "exception": {
            "values": [
                {
                    "value": f"mail ana@example.com, call +54 11 5555-0101, {CREDENTIAL}",
                    "stacktrace": {"frames": [{"vars": {"token": "z"}}]},
                }
            ]
        },
        "extra": {"celery-job": {"kwargs": {"customer": CONTACT, "note": "Branch abc123"}}},
    }

    text = json.dumps(event_scrub(event, secrets=("own-secret",)))

    assert_nothing_secret(text, "abc123")
    assert '"vars"' not in text and '"cookies"' not in text and '"data"' not in text
