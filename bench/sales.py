"""Branch sale rate and latency (8 concurrent POS clients, one-line sales) with central up, down and blackholed,
and branch stock read rate and latency — ours and the seed prototype's, in the same run.

    .venv/bin/python bench/sales.py     (or: make bench-sales; needs `make bench-setup` once)

Ours: a branch under gunicorn (BENCH_WEB_WORKERS workers, default 4, one thread each with keep-alive) on SQLite
(WAL, synchronous=FULL), its Celery worker and beat on Redis, central under gunicorn on PostgreSQL behind our fault
proxy. The prototype: its two FastAPI services under uvicorn as written (stock raised). "Down" kills central;
"blackholed" puts a listener that accepts and never answers where central was.
"""

import json
import os
import time
from pathlib import Path

from common import LOOPBACK, PROTOTYPE_CENTRAL_PORT, begin, prototype_running, table, wrk

from harness.chain import ProcessChain
from harness.faults import FaultProxy

SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
# Both servers get the same unmeasured warm-up first: each freshly started worker process pays for loading and
# initialising on its first requests (~0.5 s for a Django worker), which is start-up, not steady selling. Without
# it that cost landed in whichever run came first ("central up"), as its p99.
WARM_UP_S = int(os.environ.get("BENCH_WARM_UP_S", "3"))
CENTRAL_SETTLE_S = 5
OUR_SALE = json.dumps({"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1"}]})
PROTOTYPE_SALE = json.dumps({"producto": "manzana", "cantidad": 1})


def ours(root: Path) -> dict:
    chain = ProcessChain(
        root / "ours", branches=("B001",), web_workers=int(os.environ.get("BENCH_WEB_WORKERS", "4")), sweep_s=5.0
    )
    results = {}
    try:
        chain.prepare().start()
        branch = chain.webs["B001"]
        chain.receive("B001", {"BEB-AGUA-2L": "10000000"})
        auth = f"Token {chain.cashier_tokens['B001']}"
        sale_url = f"{branch.url}/api/v1/sales"
        wrk(sale_url, body=OUR_SALE, auth=auth, seconds=WARM_UP_S)  # not counted: see WARM_UP_S
        wrk(f"{branch.url}/api/v1/stock/BEB-AGUA-2L", auth=auth, seconds=WARM_UP_S)
        results["sale, central up"] = wrk(sale_url, body=OUR_SALE, auth=auth, seconds=SECONDS)
        chain.central_web.kill()
        results["sale, central down"] = wrk(sale_url, body=OUR_SALE, auth=auth, seconds=SECONDS)
        chain.central_web.start()
        # gunicorn answers /healthz from its first ready worker while the others are still importing Django (about
        # a second of CPU each): let that finish, so the next run measures selling, not central's start-up.
        time.sleep(CENTRAL_SETTLE_S)
        chain.proxies["B001"].set("blackhole")
        results["sale, central blackholed"] = wrk(sale_url, body=OUR_SALE, auth=auth, seconds=SECONDS)
        chain.proxies["B001"].set("pass")
        results["stock read"] = wrk(f"{branch.url}/api/v1/stock/BEB-AGUA-2L", auth=auth, seconds=SECONDS)
    finally:
        chain.stop()
    return results


def prototype(root: Path) -> dict:
    with prototype_running(root) as (central, branch):
        results = {}
        sale_url = f"{branch.url}/venta"
        wrk(sale_url, body=PROTOTYPE_SALE, seconds=WARM_UP_S)  # not counted: see WARM_UP_S
        wrk(f"{branch.url}/inventario", seconds=WARM_UP_S)
        results["sale, central up"] = wrk(sale_url, body=PROTOTYPE_SALE, seconds=SECONDS)
        central.kill()
        results["sale, central down"] = wrk(sale_url, body=PROTOTYPE_SALE, seconds=SECONDS)
        blackhole = FaultProxy(upstream_port=9, port=PROTOTYPE_CENTRAL_PORT)
        blackhole.set("blackhole")
        try:
            results["sale, central blackholed"] = wrk(sale_url, body=PROTOTYPE_SALE, seconds=SECONDS)
        finally:
            blackhole.close()
        results["stock read"] = wrk(f"{branch.url}/inventario", seconds=SECONDS)
    return results


def main() -> None:
    root = begin(f"{SECONDS} s per run, 8 connections, wrk on {LOOPBACK}")
    theirs = prototype(root)
    mine = ours(root)
    rows = []
    for name in ("sale, central up", "sale, central down", "sale, central blackholed", "stock read"):
        a, b = mine[name], theirs[name]
        rows.append(
            [
                name,
                f"{a.requests_per_s:,.0f}/s",
                f"{a.p50_ms:.1f} / {a.p99_ms:.1f} ms",
                f"{a.non_2xx + a.errors}",
                f"{b.requests_per_s:,.0f}/s",
                f"{b.p50_ms:.1f} / {b.p99_ms:.1f} ms",
                f"{b.non_2xx + b.errors}",
                f"{a.requests_per_s / b.requests_per_s:.2f}×",
            ]
        )
    print(
        table(
            [
                "run",
                "ours",
                "ours p50 / p99",
                "ours non-2xx+errors",
                "prototype",
                "prototype p50 / p99",
                "prototype non-2xx+errors",
                "ours ÷ prototype",
            ],
            rows,
        )
    )
    up, down, hole = (
        mine[k].requests_per_s for k in ("sale, central up", "sale, central down", "sale, central blackholed")
    )
    spread = (max(up, down, hole) - min(up, down, hole)) / max(up, down, hole)
    print(f"\nours: sale rate spread across central up/down/blackholed: {spread:.0%} (target within 10%)")


if __name__ == "__main__":
    main()
