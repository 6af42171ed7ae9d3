"""Central ingest in events per second: 500-event batches over HTTP into central under gunicorn on PostgreSQL,
first new, then the same batches again (idempotent: all duplicates) — and the seed prototype's central taking its
one-event notifications, in the same run.

    .venv/bin/python bench/ingest.py     (or: make bench-ingest; needs `make bench-setup` once)
"""

import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from common import begin, prototype_running, table, wrk

from harness.chain import ProcessChain
from harness.processes import WebServer

BATCHES_PER_BRANCH = int(os.environ.get("BENCH_BATCHES", "30"))
BRANCHES = ("B001", "B002")
SKUS = ["FRU-BANANA", "LAC-LECHE-1L", "ALM-ARROZ-1K", "VER-TOMATE", "BEB-AGUA-2L"]


def batches_for(code: str) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    batches, seq = [], 0
    for _ in range(BATCHES_PER_BRANCH):
        events = []
        for _ in range(500):
            seq += 1
            events.append(
                {
                    "id": str(uuid.uuid4()),
                    "branch": code,
                    "seq": seq,
                    "type": "sale.completed",
                    "occurred_at": now,
                    "schema": 1,
                    "payload": {
                        "sale_id": str(uuid.uuid4()),
                        "number": seq,
                        "lines": [{"sku": SKUS[seq % len(SKUS)], "quantity": "1.000", "unit_price": "1.00"}],
                        "total": "1.00",
                        "payment_method": "cash",
                        "cashier": "bench",
                    },
                }
            )
        batches.append({"branch": code, "events": events})
    return batches


def push_all(url: str, credentials: dict[str, str], work: dict[str, list[dict]]) -> tuple[float, int, int]:
    """One client per branch, each sending its batches in order. Returns (seconds, accepted, duplicates)."""
    totals = {"accepted": 0, "duplicates": 0}
    lock = threading.Lock()

    def client(code: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Branch {credentials[code]}"
        for batch in work[code]:
            answer = session.post(
                url, data=json.dumps(batch), headers={"Content-Type": "application/json"}, timeout=120
            )
            answer.raise_for_status()
            with lock:
                totals["accepted"] += answer.json()["accepted"]
                totals["duplicates"] += answer.json()["duplicates"]

    threads = [threading.Thread(target=client, args=(code,)) for code in work]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals["accepted"], totals["duplicates"]


def ours(root: Path) -> dict:
    chain = ProcessChain(root / "ours", branches=BRANCHES, web_workers=int(os.environ.get("BENCH_WEB_WORKERS", "4")))
    try:
        chain.prepare()
        credentials = {code: node.env["BRANCH_CREDENTIAL"] for code, node in chain.branch_nodes.items()}
        chain.central_web = WebServer(chain.central, port=chain.central_port, workers=chain.web_workers).start()
        work = {code: batches_for(code) for code in BRANCHES}
        url = f"{chain.central_web.url}/api/v1/sync/events"
        new_s, accepted, _ = push_all(url, credentials, work)
        again_s, _, duplicates = push_all(url, credentials, work)
    finally:
        chain.stop()
    return {"new": (accepted / new_s, accepted), "again": (duplicates / again_s, duplicates)}


def prototype(root: Path) -> float:
    with prototype_running(root) as (central, branch):
        body = json.dumps({"sucursal": "Sucursal1", "producto": "manzana", "cantidad": 1})
        return wrk(f"{central.url}/sucursal-notificacion", body=body, seconds=15).requests_per_s


def main() -> None:
    root = begin(f"{len(BRANCHES)} branches x {BATCHES_PER_BRANCH} batches x 500 events")
    theirs = prototype(root)
    mine = ours(root)
    print(
        table(
            ["run", "ours events/s", "events", "prototype events/s (one per request)", "ours ÷ prototype"],
            [
                [
                    "new events",
                    f"{mine['new'][0]:,.0f}",
                    mine["new"][1],
                    f"{theirs:,.0f}",
                    f"{mine['new'][0] / theirs:.2f}×",
                ],
                ["the same batches again (all duplicates)", f"{mine['again'][0]:,.0f}", mine["again"][1], "–", "–"],
            ],
        )
    )


if __name__ == "__main__":
    main()
