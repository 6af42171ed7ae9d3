"""/metrics in each mode, in-process: who may scrape, and that what happens and what is shows up
(docs/architecture.md, "The HTTP API")."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ecomarket.models import Heartbeat


def scrape(**headers) -> dict[tuple[str, tuple], float]:
    """The samples /metrics answers, as {(name, sorted labels): value}."""
    response = Client(**headers).get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


LOOPBACK = override_settings(METRICS_ALLOW_FROM=["127.0.0.1/32"], METRICS_TOKEN="")


# ----------------------------------------------------------------------------------------------------------------
# Who may scrape
# ----------------------------------------------------------------------------------------------------------------


@override_settings(METRICS_TOKEN="", METRICS_ALLOW_FROM=[])
def test_nobody_may_scrape_when_neither_a_token_nor_an_address_is_configured(db):
    response = Client().get("/metrics")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@override_settings(METRICS_TOKEN="scrape-secret", METRICS_ALLOW_FROM=[])
def test_an_anonymous_scraper_is_asked_for_the_token(db):
    response = Client().get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@override_settings(METRICS_TOKEN="scrape-secret", METRICS_ALLOW_FROM=["127.0.0.1/32"])
def test_a_wrong_token_is_refused_even_from_an_allowed_address(db):
    assert Client(HTTP_AUTHORIZATION="Bearer not-it").get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Token scrape-secret").get("/metrics").status_code == 401


@override_settings(METRICS_TOKEN="scrape-secret", METRICS_ALLOW_FROM=[])
def test_the_token_opens_metrics_from_any_address(db):
    response = Client(HTTP_AUTHORIZATION="Bearer scrape-secret", REMOTE_ADDR="203.0.113.7").get("/metrics")

    assert response.status_code == 200


@override_settings(METRICS_TOKEN="", METRICS_ALLOW_FROM=["10.0.0.0/8"])
def test_an_allowed_network_scrapes_without_a_token_and_others_may_not(db):
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.1").get("/metrics").status_code == 403


@override_settings(METRICS_TOKEN="", METRICS_ALLOW_FROM=["127.0.0.1/32"], TRUSTED_PROXY_COUNT=1)
def test_behind_the_proxy_the_allow_list_judges_the_caller_not_the_proxy(db):
    """The shipped nginx sites proxy /metrics from 127.0.0.1 and name the caller in X-Forwarded-For: allowing the
    box's own Prometheus must not let the whole store network in through nginx."""
    through_nginx = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.168.10.23")
    assert through_nginx.get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200  # gunicorn scraped on the box itself


# ----------------------------------------------------------------------------------------------------------------
# Both modes
# ----------------------------------------------------------------------------------------------------------------


@LOOPBACK
def test_requests_are_counted_by_route_pattern_and_status_class(db, manager_client):
    before = scrape()
    unknown = f"/api/v1/no-such-thing/{uuid.uuid4()}"
    Client().get("/healthz")
    Client().get(unknown)

    after = scrape()

    healthz = value(after, "ecomarket_http_requests_total", route="healthz", status="2xx")
    assert healthz == value(before, "ecomarket_http_requests_total", route="healthz", status="2xx") + 1
    unmatched = value(after, "ecomarket_http_requests_total", route="unmatched", status="4xx")
    assert unmatched == value(before, "ecomarket_http_requests_total", route="unmatched", status="4xx") + 1
    assert not any(unknown.strip("/") in str(labels) for _, labels in after)  # paths never become labels
    count = value(after, "ecomarket_http_request_duration_seconds_count", route="healthz", method="GET")
    assert count >= 1


@LOOPBACK
def test_heartbeat_ages_are_read_from_the_database(db):
    Heartbeat.objects.create(component="worker", seen_at=timezone.now() - timedelta(seconds=90))

    age = value(scrape(), "ecomarket_heartbeat_age_seconds", component="worker")

    assert 90 <= age < 120


# ----------------------------------------------------------------------------------------------------------------
# Branch
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.mode("branch")
@LOOPBACK
def test_a_sale_counts_once_and_waits_in_the_outbox_gauges(cashier_client, shelf):
    before = scrape()
    sale = {"id": str(uuid.uuid4()), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}
    assert cashier_client.post("/api/v1/sales", sale, format="json").status_code == 201
    assert cashier_client.post("/api/v1/sales", sale, format="json").status_code == 200  # a replay: not a sale

    after = scrape()

    assert value(after, "ecomarket_sales_total") == value(before, "ecomarket_sales_total") + 1
    assert value(after, "ecomarket_outbox_pending_events") == value(before, "ecomarket_outbox_pending_events") + 1
    assert value(after, "ecomarket_outbox_oldest_pending_age_seconds") > 0
    assert value(after, "ecomarket_outbox_parked_events") == 0
    sales = value(after, "ecomarket_http_request_duration_seconds_count", route="api/v1/sales", method="POST")
    assert (
        sales == value(before, "ecomarket_http_request_duration_seconds_count", route="api/v1/sales", method="POST") + 2
    )
    assert value(after, "ecomarket_sqlite_file_bytes", file="db") > 0


@pytest.mark.mode("branch")
@LOOPBACK
def test_voids_and_returns_are_counted(cashier_client, manager_client, shelf):
    def sell() -> str:
        body = {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]}
        return cashier_client.post("/api/v1/sales", body, format="json").json()["id"]

    before = scrape()
    returned = {"sale_id": sell(), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}
    assert cashier_client.post("/api/v1/returns", returned, format="json").status_code == 201
    assert manager_client.post(f"/api/v1/sales/{sell()}/void", {"reason": "test"}, format="json").status_code == 200

    after = scrape()

    assert value(after, "ecomarket_returns_total") == value(before, "ecomarket_returns_total") + 1
    assert value(after, "ecomarket_voids_total") == value(before, "ecomarket_voids_total") + 1


# ----------------------------------------------------------------------------------------------------------------
# Central
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.mode("central")
@LOOPBACK
def test_ingested_events_are_counted_by_outcome_and_branches_described(db):
    from branches.tests.factories import Events, branch_client, push
    from inventory.models import Unit
    from inventory.tests.factories import product_make

    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    client, _ = branch_client("B001")
    stream = Events("B001")
    received, sale = stream.received(FRU_BANANA="10.000"), stream.sale(FRU_BANANA="1.000")
    unknown = stream.make("stock.received", {"transfer_id": None, "lines": [{"sku": "NOPE", "quantity": "1"}]})
    conflicting = {**sale, "payload": {**sale["payload"], "total": "9.99"}}
    before = scrape()

    assert push(client, [received, sale]).status_code == 200
    client.post(
        "/api/v1/sync/events",
        {"branch": "B001", "events": [received, unknown]},
        format="json",
        HTTP_X_OUTBOX_PENDING="7",
    )
    push(client, [conflicting])
    after = scrape()

    def delta(outcome):
        name = "ecomarket_ingest_events_total"
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    assert (delta("accepted"), delta("duplicate"), delta("conflict"), delta("rejected")) == (2, 1, 1, 1)
    assert (
        value(after, "ecomarket_ingest_batch_duration_seconds_count")
        - value(before, "ecomarket_ingest_batch_duration_seconds_count")
        == 3
    )
    assert value(after, "ecomarket_branch_high_water_seq", branch="B001") == 3
    assert value(after, "ecomarket_branch_lag_events", branch="B001") == 0
    assert value(after, "ecomarket_branch_pending_reported", branch="B001") == 7
    assert 0 <= value(after, "ecomarket_branch_last_seen_age_seconds", branch="B001") < 60


@pytest.mark.mode("central")
@LOOPBACK
def test_open_discrepancies_oversell_cases_and_the_last_reconciliation_are_reported(db):
    from branches.tests.factories import branch_client
    from reconciliation.models import Discrepancy, ReconciliationRun

    _, branch = branch_client("B001")
    now = timezone.now()
    Discrepancy.objects.create(
        branch=branch, kind="count_mismatch", sku="X", first_detected_at=now, last_changed_at=now
    )
    Discrepancy.objects.create(
        branch=branch, kind="count_mismatch", sku="Y", status="resolved", first_detected_at=now, last_changed_at=now
    )
    ReconciliationRun.objects.create(started_at=now - timedelta(seconds=100), finished_at=now - timedelta(seconds=97))

    samples = scrape()

    assert value(samples, "ecomarket_discrepancies_open", kind="count_mismatch") == 1
    assert value(samples, "ecomarket_discrepancies_open", kind="oversell") == 0
    assert ("ecomarket_oversell_cases_open", ()) in samples
    assert value(samples, "ecomarket_reconcile_duration_seconds") == pytest.approx(3)
    assert 97 <= value(samples, "ecomarket_reconcile_last_success_age_seconds") < 130


# ----------------------------------------------------------------------------------------------------------------
# Multiprocess
# ----------------------------------------------------------------------------------------------------------------


def test_pruning_drops_the_files_of_processes_that_are_gone_and_keeps_the_living(tmp_path):
    import os
    import subprocess
    import sys

    from ecomarket.metrics import multiprocess_files_prune

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    for name in (f"counter_{dead_pid}.db", f"histogram_{dead_pid}.db", f"counter_{os.getpid()}.db"):
        (tmp_path / name).write_bytes(b"")

    assert multiprocess_files_prune(tmp_path) == 2
    assert [file.name for file in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]


@pytest.mark.mode("branch")
@pytest.mark.processes
def test_every_gunicorn_worker_counts_whichever_one_answers_the_scrape(branch_node):
    import requests

    from harness.processes import WebServer

    branch_node.env.update({"METRICS_TOKEN": "scrape-secret"})
    server = WebServer(branch_node, workers=3).start()
    try:
        for _ in range(30):  # a new connection each: the kernel hands them to whichever worker accepts first
            sold = requests.post(
                f"{server.url}/api/v1/sales",
                json={"lines": [{"sku": "FRU-MANZANA", "quantity": "0.100"}]},
                headers={"Authorization": f"Token {branch_node.token}", "Connection": "close"},
                timeout=10,
            )
            assert sold.status_code == 201
        scrapes = [
            requests.get(
                f"{server.url}/metrics",
                headers={"Authorization": "Bearer scrape-secret", "Connection": "close"},
                timeout=10,
            ).text
            for _ in range(6)
        ]
    finally:
        server.stop()

    totals = [
        sample.value
        for text in scrapes
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ecomarket_sales_total"
    ]
    assert totals == [30.0] * 6
