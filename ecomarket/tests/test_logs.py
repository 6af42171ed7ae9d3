"""Logs operators can search: one JSON object a line from gunicorn (its access log included) and Django, each with
the request id, the mode, the branch and the user where known, and never a credential (docs/architecture.md)."""

import json
import uuid

import pytest
import requests

from harness.processes import WebServer

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


def test_every_line_is_json_with_request_id_mode_branch_and_user_and_no_credential(branch_node):
    metrics_token = f"scrape-{uuid.uuid4().hex}"
    wrong_token = "f" * 40
    branch_node.env.update({"LOG_FORMAT": "json", "METRICS_TOKEN": metrics_token})
    server = WebServer(branch_node, workers=2).start()
    till = requests.Session()
    till.headers["Authorization"] = f"Token {branch_node.token}"
    try:
        sold = till.post(
            f"{server.url}/api/v1/sales",
            json={"lines": [{"sku": "FRU-MANZANA", "quantity": "1"}]},
            headers={"X-Request-ID": "till-7-0001"},
            timeout=10,
        )
        too_much = till.post(
            f"{server.url}/api/v1/sales",
            json={"lines": [{"sku": "FRU-MANZANA", "quantity": "99999"}]},
            headers={"X-Request-ID": "till-7-0002"},
            timeout=10,
        )
        made_up = requests.get(
            f"{server.url}/api/v1/stock", headers={"Authorization": f"Token {wrong_token}"}, timeout=10
        )
        in_the_url = requests.get(f"{server.url}/api/v1/stock?search=MANZ&token={branch_node.token}", timeout=10)
        forged = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": 'x" {"forged": 1}'}, timeout=10)
        scraped = requests.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {metrics_token}"}, timeout=10
        )
    finally:
        server.stop()

    assert (sold.status_code, too_much.status_code, made_up.status_code, in_the_url.status_code) == (201, 409, 401, 401)
    assert sold.headers["X-Request-ID"] == "till-7-0001"
    assert made_up.headers["X-Request-ID"]  # one was made for a client that sent none
    assert forged.headers["X-Request-ID"] != forged.request.headers["X-Request-ID"]  # not a plain token: replaced
    assert "ecomarket_sqlite_write_lock_wait_seconds_count" in scraped.text

    text = server.log()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"timestamp", "level", "logger", "message", "request_id", "mode", "branch"} <= set(r) for r in records)
    assert all(record["mode"] == "branch" and record["branch"] == "B001" for record in records)
    access = {record["request_id"]: record for record in records if record["logger"] == "gunicorn.access"}
    assert access["till-7-0001"]["status"] == "201"
    assert access["till-7-0001"]["path"] == "/api/v1/sales"
    assert access[made_up.headers["X-Request-ID"]]["status"] == "401"
    assert "search=MANZ&token=[redacted]" in access[in_the_url.headers["X-Request-ID"]]["message"]
    refused = [
        record for record in records if record["request_id"] == "till-7-0002" and record["logger"] == "django.request"
    ]
    assert refused and refused[0]["user"] == "pos1"  # the cashier DRF authenticated
    for secret in (branch_node.token, wrong_token, metrics_token):
        assert secret not in text
