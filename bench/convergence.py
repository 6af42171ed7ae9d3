"""Convergence: 50,000 sales queued across 5 branches while central is down; time from central's restart until
central holds all of them (and until every outbox is drained) — and what the seed prototype does in the same case.

    .venv/bin/python bench/convergence.py     (or: make bench-convergence; needs `make bench-setup` once)

The sales are made at each branch by its own sale service (``manage.py shell``, 10,000 per branch, committed
1,000 at a time) rather than over HTTP, so that queueing them takes a minute instead of ten; each is a real sale
with its outbox event, exactly what a till would have produced. Everything else is the real path: Celery workers
on Redis pushing 500-event batches through our proxy to central under gunicorn on PostgreSQL.
"""

import json
import os
import threading
import time
from pathlib import Path

import requests
from common import begin, prototype_running, table

from harness.chain import ProcessChain
from harness.processes import poll

BRANCHES = ("B001", "B002", "B003", "B004", "B005")
PER_BRANCH = int(os.environ.get("BENCH_SALES_PER_BRANCH", "10000"))
SELL = f"""
from decimal import Decimal
from django.db import transaction
from inventory.services import Line, sale_create, stock_receipt_record
stock_receipt_record(receipt_id=None, transfer_id=None, lines=[Line("BEB-AGUA-2L", Decimal({PER_BRANCH}))], user=None)
for chunk in range({PER_BRANCH} // 1000):
    with transaction.atomic():
        for _ in range(1000):
            sale_create(sale_id=None, lines=[Line("BEB-AGUA-2L", Decimal(1))], payment_method="cash", cashier=None)
"""


def ours(root: Path) -> dict:
    chain = ProcessChain(root / "ours", branches=BRANCHES, sweep_s=2.0)
    try:
        chain.prepare().start()
        chain.wait_converged(timeout=120)
        chain.central_web.kill()
        started = time.monotonic()
        threads = [
            threading.Thread(
                target=chain.branch_nodes[code].manage, args=("shell", "-c", SELL), kwargs={"timeout": 1200}
            )
            for code in BRANCHES
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        queued = {code: chain.sync_status(code)["pending_events"] for code in BRANCHES}
        print(f"queued {sum(queued.values()):,} events in {time.monotonic() - started:.0f} s: {queued}", flush=True)
        restarted = time.monotonic()
        chain.central_web.start()
        total = PER_BRANCH * len(BRANCHES)
        poll(
            lambda: (
                chain.central_sql("SELECT count(*) FROM branches_branchevent WHERE type = 'sale.completed'")[0][0]
                >= total
            ),
            timeout=600,
            interval=0.2,
            what="central holding every sale",
        )
        held = time.monotonic() - restarted
        chain.wait_converged(timeout=600)
        drained = time.monotonic() - restarted
        exact = all(chain.exactly_once(code)[0] == chain.exactly_once(code)[1] for code in BRANCHES)
    finally:
        chain.stop()
    return {"sales": total, "held_s": held, "drained_s": drained, "exactly_once": exact}


def prototype(root: Path, sales: int = 1000) -> int:
    """The prototype with central down: sell, bring central back, count what central ever heard of."""
    with prototype_running(root) as (central, branch):
        before = requests.get(f"{central.url}/inventario-global", timeout=5).json()["manzana"]
        central.kill()
        session = requests.Session()
        for _ in range(sales):
            session.post(
                f"{branch.url}/venta",
                data=json.dumps({"producto": "manzana", "cantidad": 1}),
                headers={"Content-Type": "application/json"},
                timeout=10,
            ).raise_for_status()
        central.start()
        time.sleep(5)  # the prototype has no retry to wait for: give it every chance, then look
        after = requests.get(f"{central.url}/inventario-global", timeout=5).json()["manzana"]
        return before - after


def main() -> None:
    root = begin(f"{len(BRANCHES)} branches x {PER_BRANCH:,} sales queued while central is down")
    delivered = prototype(root)
    mine = ours(root)
    print(
        table(
            ["", "ours", "prototype"],
            [
                ["sales made while central was down", f"{mine['sales']:,}", "1,000"],
                [
                    "central holds every sale, after its restart",
                    f"{mine['held_s']:.1f} s",
                    f"never ({delivered} arrived)",
                ],
                ["every outbox drained and on-hand equal", f"{mine['drained_s']:.1f} s", "–"],
                ["each event stored exactly once", "yes" if mine["exactly_once"] else "NO", "–"],
            ],
        )
    )


if __name__ == "__main__":
    main()
