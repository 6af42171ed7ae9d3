"""The branch server's resident memory over 100,000 sales: sampled after every burst of load, not per request.

    .venv/bin/python bench/memory.py     (or: make bench-memory; needs `make bench-setup` once)

One branch under gunicorn (4 workers, configured as harness/processes.py runs every branch) with its Celery
worker and beat on Redis and central up; wrk sells in bursts of BENCH_BURST_S seconds (8 connections) until
BENCH_SALES sales are stored or BENCH_BUDGET_S runs out.
After each burst: sales stored, and the resident memory (RSS) of the gunicorn master and each worker.
"""

import json
import os
import time

import psutil
from common import begin, table, wrk

from harness.chain import ProcessChain

TARGET = int(os.environ.get("BENCH_SALES", "100000"))
BURST_S = int(os.environ.get("BENCH_BURST_S", "60"))
BUDGET_S = int(os.environ.get("BENCH_BUDGET_S", "2400"))
SALE = json.dumps({"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1"}]})


def rss_mb(pid: int) -> tuple[float, list[float]]:
    master = psutil.Process(pid)
    workers = [child.memory_info().rss / 2**20 for child in master.children()]
    return master.memory_info().rss / 2**20, workers


def main() -> None:
    root = begin(f"branch memory over {TARGET:,} sales, bursts of {BURST_S} s")
    # Redis databases 0-1: the test suite's chains use 10 and up, so both can run at once.
    chain = ProcessChain(root / "ours", branches=("B001",), web_workers=4, sweep_s=5.0, first_redis_db=0)
    rows = []
    try:
        chain.prepare().start()
        web = chain.webs["B001"]
        chain.receive("B001", {"BEB-AGUA-2L": "10000000"})
        auth = f"Token {chain.cashier_tokens['B001']}"
        started = time.monotonic()
        sales = 0
        master, workers = rss_mb(web.popen.pid)
        rows.append([0, f"{master:.1f}", " / ".join(f"{w:.1f}" for w in workers), f"{sum(workers):.1f}"])
        while sales < TARGET and time.monotonic() - started < BUDGET_S:
            wrk(f"{web.url}/api/v1/sales", body=SALE, auth=auth, seconds=BURST_S)
            sales = chain.branch_sql("B001", "SELECT count(*) FROM inventory_sale")[0][0]
            master, workers = rss_mb(web.popen.pid)
            rows.append([f"{sales:,}", f"{master:.1f}", " / ".join(f"{w:.1f}" for w in workers), f"{sum(workers):.1f}"])
            print(rows[-1], flush=True)
    finally:
        chain.stop()
    print(table(["sales stored", "master RSS MB", "workers RSS MB", "workers total MB"], rows))


if __name__ == "__main__":
    main()
