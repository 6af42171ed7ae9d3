"""The chain at the till: the cost of every branch's replica of other stores' stock (chain/), at 500 branches x
2,000 SKUs with 1 sale/s per branch.

    .venv/bin/python bench/chain_stock.py            (or: make bench-chain-stock)

Builds a fresh central database (``ecm_bench_chain_stock`` on BENCH_POSTGRES_URL) and fills it with SQL: 2,000
products, 500 branches, a level per (branch, SKU) (1,000,000). Then, in this process, with central's own code:

1. the first publication (every figure) and the copy a branch starting from nothing takes once (snapshot pages:
   bytes raw and gzip-compressed as the API sends them), and that copy written into a branch's SQLite replica
   (a branch database migrated by ``manage.py migrate``; its size on disk before and after);
2. CHAIN_BENCH_SECONDS (default 120) of steady state in real time: every second each branch's sale of 1-5 lines
   moves its levels as central's ingest would (one UPDATE per second for the whole chain, ``updated_at`` stamped);
   a publication every CHAIN_STOCK_PUBLISH_S (5 s: what 500 pulling branches trigger) and one branch pulling every
   CHAIN_STOCK_PULL_INTERVAL_S (10 s) through the feed's own selector, applying each page to its SQLite replica.
   It reports bytes per pull (raw and gzip), per branch per hour, the publication's and the page's central time,
   the apply time at the branch, and the delay from a level's change at central to the figure in the replica.

The push from the selling store to central (push p99, docs/scale.md) comes before that delay, and is not in it.
CHAIN_BENCH_BRANCHES / CHAIN_BENCH_SKUS run a smaller chain with the same code.
"""

import gzip
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import central_database_ready, central_in_process, load_average, stamp  # noqa: E402

DATABASE = "ecm_bench_chain_stock"
BRANCHES = int(os.environ.get("CHAIN_BENCH_BRANCHES", 500))
SKUS = int(os.environ.get("CHAIN_BENCH_SKUS", 2000))
SECONDS = int(os.environ.get("CHAIN_BENCH_SECONDS", 120))
PUBLISH_S, PULL_S = 5.0, 10.0
READER = "B001"  # the branch whose replica is measured

central_in_process(database=DATABASE, CHAIN_STOCK_PUBLISH_S=str(PUBLISH_S))

FILL_SQL = """
INSERT INTO inventory_product (sku, name, unit, price, barcode, active, updated_at)
SELECT 'SKU-' || lpad(s::text, 5, '0'), 'Product ' || s, 'unit', 1.00, '', true, now()
FROM generate_series(0, {skus} - 1) s;
INSERT INTO branches_branch (code, name, credential_hash, high_water_seq, max_seq_seen, duplicates_absorbed,
                             ingest_mark, created_at)
SELECT 'B' || lpad(b::text, 3, '0'), 'Sucursal ' || b, '', 0, 0, 0, 0, now() FROM generate_series(1, {branches}) b;
INSERT INTO inventory_stocklevel (branch, sku, on_hand, updated_at)
SELECT b.code, p.sku, 500, now() - interval '1 hour' FROM branches_branch b CROSS JOIN inventory_product p;
ANALYZE;
"""

# One second of the chain's sales as central's ingest leaves the levels: each (branch, SKU) moved by a quantity.
SALES_SQL = """
UPDATE inventory_stocklevel l SET on_hand = l.on_hand - s.q, updated_at = now()
FROM (SELECT unnest(%s::text[]) AS branch, unnest(%s::text[]) AS sku, unnest(%s::numeric[]) AS q) s
WHERE l.branch = s.branch AND l.sku = s.sku
"""

UPSERT_SQL = (
    "INSERT INTO chain_chainlevel (branch, sku, on_hand, changed_as_of) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (sku, branch) DO UPDATE SET on_hand = excluded.on_hand, changed_as_of = excluded.changed_as_of"
)


def gz(text: str) -> int:
    return len(gzip.compress(text.encode(), compresslevel=6, mtime=0))  # what Django's gzip_page sends


def branch_database(folder: Path) -> Path:
    """A branch's SQLite database, migrated as ``make run`` migrates one."""
    env = {**os.environ, "ECOMARKET_MODE": "branch", "DATA_DIR": str(folder), "BRANCH_CODE": READER}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True)
    return folder / "db.sqlite3"


def replica_write(db: sqlite3.Connection, levels: dict, as_of: str) -> int:
    rows = [
        (branch, sku, value, as_of)
        for branch, figures in levels.items()
        if branch != READER
        for sku, value in figures.items()
    ]
    db.executemany(UPSERT_SQL, rows)
    db.commit()
    return len(rows)


def main() -> None:
    import json

    print(f"# bench/chain_stock.py, {stamp()}, {BRANCHES} branches x {SKUS} SKUs, load {load_average()}")
    central_database_ready(DATABASE)
    from django.db import connection

    from chain import selectors, services

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL_SQL.format(skus=SKUS, branches=BRANCHES))
    print(f"- fill: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    figures = services.chain_stock_publish()
    print(f"- first publication: {figures} figures in {time.perf_counter() - started:.1f} s, load {load_average()}")

    folder = Path(tempfile.mkdtemp(prefix="chain-bench-"))
    path = branch_database(folder)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    empty = path.stat().st_size
    raw = zipped = pages = written = 0
    after = ""
    started = time.perf_counter()
    cursor_id = None
    while True:
        page = selectors.chain_snapshot_page(after=after)
        cursor_id = cursor_id if cursor_id is not None else page["cursor"]
        text = json.dumps(page, separators=(",", ":"))
        raw, zipped, pages = raw + len(text), zipped + gz(text), pages + 1
        written += replica_write(db, page["levels"], page["as_of"])
        if not page["next_after"]:
            break
        after = page["next_after"]
    copy_s = time.perf_counter() - started
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    print(
        f"- first copy: {pages} pages, {written} figures, {raw / 1e6:.1f} MB raw, {zipped / 1e6:.1f} MB gzip, "
        f"{copy_s:.1f} s (central + SQLite); replica on disk {(size - empty) / 1e6:.1f} MB "
        f"(database {empty / 1e6:.1f} -> {size / 1e6:.1f} MB)"
    )

    rng = random.Random(33)
    codes = [f"B{b:03d}" for b in range(1, BRANCHES + 1)]
    skus = [f"SKU-{s:05d}" for s in range(SKUS)]
    pending: dict[tuple[str, str], float] = {}  # (branch, sku) -> when it first changed since the replica got it
    delays, publish_s, page_s, apply_s, pulls = [], [], [], [], []
    next_publish, next_pull = time.monotonic() + PUBLISH_S, time.monotonic() + PULL_S
    end = time.monotonic() + SECONDS
    sale_s, sales, steady_started = [], 0, time.monotonic()
    print(f"- steady state: {SECONDS} s, load {load_average()}")
    while time.monotonic() < end:
        tick = time.monotonic()
        lines = {}
        for code in codes:
            for sku in rng.sample(skus, rng.randint(1, 5)):
                lines[(code, sku)] = rng.choice((1, 1, 1, 2, 3))
        with connection.cursor() as cursor:
            cursor.execute(SALES_SQL, [[k[0] for k in lines], [k[1] for k in lines], list(lines.values())])
        changed_at = time.monotonic()
        sales += len(codes)
        for key in lines:
            pending.setdefault(key, changed_at)
        sale_s.append(changed_at - tick)
        if time.monotonic() >= next_publish:
            started = time.perf_counter()
            services.chain_stock_publish()
            publish_s.append(time.perf_counter() - started)
            next_publish += PUBLISH_S
        if time.monotonic() >= next_pull:
            next_pull += PULL_S
            pull = {"raw": 0, "gzip": 0, "figures": 0}
            while True:
                started = time.perf_counter()
                text = selectors.chain_feed_page(cursor=cursor_id)
                page_s.append(time.perf_counter() - started)
                pull["raw"] += len(text)
                pull["gzip"] += gz(text)
                answer = json.loads(text)
                started = time.perf_counter()
                for batch in answer["batches"]:
                    pull["figures"] += replica_write(db, batch["levels"], batch["as_of"])
                apply_s.append(time.perf_counter() - started)
                now = time.monotonic()
                for batch in answer["batches"]:
                    for branch, figures in batch["levels"].items():
                        for sku in figures:
                            if (branch, sku) in pending and branch != READER:
                                delays.append(now - pending.pop((branch, sku)))
                cursor_id = answer["next_cursor"]
                if not answer["more"]:
                    break
            pulls.append(pull)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    steady_size = path.stat().st_size

    def ms(values, q):
        return f"{statistics.quantiles(values, n=100)[q - 1] * 1000:.0f}" if len(values) > 1 else "-"

    measured = pulls[1:] or pulls  # the first pull also carries what changed before the steady state began
    per_pull_raw = statistics.mean(p["raw"] for p in measured)
    per_pull_gz = statistics.mean(p["gzip"] for p in measured)
    per_hour = 3600 / PULL_S
    print(
        f"- pulls: {len(pulls)} (mean over {len(measured)}), "
        f"figures per pull {statistics.mean(p['figures'] for p in measured):.0f}"
    )
    print(f"- bytes per pull: {per_pull_raw / 1e3:.0f} kB raw, {per_pull_gz / 1e3:.0f} kB gzip")
    print(
        f"- per branch per hour: {per_pull_raw * per_hour / 1e6:.0f} MB raw, {per_pull_gz * per_hour / 1e6:.0f} MB gzip"
    )
    print(
        f"- publication (central): p50 {ms(publish_s, 50)} ms, max {max(publish_s) * 1000:.0f} ms over {len(publish_s)}"
    )
    print(f"- feed page built (central, per branch pull): p50 {ms(page_s, 50)} ms, max {max(page_s) * 1000:.0f} ms")
    print(f"- page applied to the SQLite replica: p50 {ms(apply_s, 50)} ms, max {max(apply_s) * 1000:.0f} ms")
    print(
        f"- delay from central's level to the replica: p50 {ms(delays, 50)} ms, p99 {ms(delays, 99)} ms, "
        f"max {max(delays) * 1000:.0f} ms over {len(delays)} figures (target <= 2 x {PULL_S:.0f} s)"
    )
    rate = sales / (time.monotonic() - steady_started) / len(codes)
    print(
        f"- sales made: {rate:.2f} per branch per second; "
        f"the chain's second of sales as one UPDATE: p50 {ms(sale_s, 50)} ms"
    )
    print(f"- replica on disk after the steady state: {(steady_size - empty) / 1e6:.1f} MB; load {load_average()}")
    db.close()


if __name__ == "__main__":
    main()
