"""The branch's write lock waits with a limit: behind a holder that is stopped (SIGSTOP), a write
gives up after SQLITE_BUSY_TIMEOUT_S with 503 ``busy`` and ``Retry-After``, and a Celery task retries later."""

import signal
import sqlite3
import subprocess
import sys
import uuid
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client, override_settings
from rest_framework.test import APIClient

from harness.processes import ROOT, CeleryWorker, poll, port_free

pytestmark = [pytest.mark.mode("branch")]

# Holds the write lock the way a writer does (an exclusive flock on <database>.writer-lock, then, with a Django
# shell, a BEGIN IMMEDIATE transaction too) and says so; the test then stops it. Bounded: it gives up after 120 s.
FLOCK_HOLDER = """
import fcntl, sys, time
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""
TRANSACTION_HOLDER = """
import time
from django.db import transaction
from inventory.models import Product
with transaction.atomic():
    Product.objects.filter(sku="none").update(name="x")
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def stopped_holder(argv: list[str], env: dict | None = None):
    """A separate process holding the write lock, SIGSTOPped; cleanup lets it go on and kills it."""
    holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        for _ in range(20):  # Django's shell prints lines of its own first
            line = holder.stdout.readline()
            if line.strip() == "held" or not line:
                break
        assert holder.poll() is None, "the holder exited before it held the lock"
        holder.send_signal(signal.SIGSTOP)
        yield holder
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.kill()
        holder.wait(timeout=10)


@contextmanager
def stopped_flock_holder():
    with stopped_holder([sys.executable, "-c", FLOCK_HOLDER, f"{connection.settings_dict['NAME']}.writer-lock"]):
        yield


def _on_hand(sku: str) -> Decimal:
    from inventory.models import StockLevel

    return StockLevel.objects.get(product__sku=sku).on_hand


@pytest.mark.django_db(transaction=True)
@override_settings(SQLITE_BUSY_TIMEOUT_S=1)
def test_a_sale_behind_a_stopped_lock_holder_gets_503_busy_then_goes_through_once_it_is_gone(shelf, cashier):
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Token {cashier.token}")
    body = {"id": str(uuid.uuid4()), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}

    with stopped_flock_holder():
        busy = till.post("/api/v1/sales", body, format="json")
        seed = till.post("/venta", {"producto": "LAC-LECHE-1L", "cantidad": 1}, format="json")
        assert _on_hand("LAC-LECHE-1L") == Decimal("5")  # nothing was written
    served = till.post("/api/v1/sales", body, format="json")

    assert busy.status_code == 503
    assert busy.json()["code"] == "busy" and set(busy.json()) == {"code", "detail", "fields"}
    assert int(busy["Retry-After"]) > 0
    assert seed.status_code == 503 and seed.json()["code"] == "busy"
    assert served.status_code == 201
    assert _on_hand("LAC-LECHE-1L") == Decimal("4")


@pytest.mark.django_db(transaction=True)
@override_settings(SQLITE_BUSY_TIMEOUT_S=1)
def test_a_staff_page_behind_a_stopped_lock_holder_shows_a_busy_page(shelf, cashier):
    page = Client(raise_request_exception=False)
    page.force_login(cashier)
    form = {"id": str(uuid.uuid4()), "sku": ["LAC-LECHE-1L"], "quantity": ["3"]}

    with stopped_flock_holder():
        response = page.post("/stock/receive/", form)

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response["Content-Type"].startswith("text/html")
    assert "ocupado" in response.content.decode()  # the chain's language
    assert _on_hand("LAC-LECHE-1L") == Decimal("5")


@pytest.mark.processes
def test_a_celery_task_behind_a_stopped_lock_holder_retries_and_does_its_work_later(branch_node):
    branch_node.env.update({"SQLITE_BUSY_TIMEOUT_S": "1", "CENTRAL_URL": f"http://127.0.0.1:{port_free()}"})
    worker = CeleryWorker(branch_node).start()
    try:
        shell = [sys.executable, "manage.py", "shell", "-c", TRANSACTION_HOLDER]
        with stopped_holder(shell, env=branch_node.environ()):
            branch_node.manage("shell", "-c", "from branches.tasks import stock_snapshot_task as t; t.delay()")
            try:
                poll(lambda: "Retry in" in worker.log(), timeout=30, what="the snapshot task to be retried")
            except TimeoutError:
                print(worker.log())
                raise
            assert _snapshots(branch_node) == 0
        poll(lambda: _snapshots(branch_node) == 1, timeout=60, what="the retried snapshot to be recorded")
    finally:
        worker.stop()

    assert "DatabaseBusy" in worker.log()


def _snapshots(node) -> int:
    with sqlite3.connect(f"file:{node.data_dir / 'db.sqlite3'}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT count(*) FROM branches_outboxevent WHERE type = 'stock.snapshot'").fetchone()[0]
