"""Reconciliation over 1,000,000 ledger rows, 50 branches x 2,000 SKUs, on PostgreSQL.

    .venv/bin/python bench/reconcile.py            (or: make bench-reconcile)

Builds a fresh database (``ecm_bench_reconcile`` on BENCH_POSTGRES_URL, default the local server), fills it with
SQL (each branch: one receipt of 2,000 SKUs, 18,000 one-line sales, a snapshot; 1% of snapshot levels disagree and
every tenth branch oversold one SKU), then times: a cold full pass (it opens the discrepancies), a steady full pass
(nothing new), and an incremental pass after 10,000 new events ingested through the real ingestion service. The
seed prototype has no reconciliation, so there is no side-by-side figure for this one.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (  # noqa: E402
    LEVELS_AND_SNAPSHOT_SQL,
    central_database_ready,
    central_in_process,
    one_line_sale_event,
)

DATABASE = "ecm_bench_reconcile"
BRANCHES, SKUS, SALES_PER_BRANCH, NEW_EVENTS = 50, 2000, 18000, 10000

central_in_process(database=DATABASE)


FILL_SQL = """
INSERT INTO inventory_product (sku, name, unit, price, barcode, active, updated_at)
SELECT 'SKU-' || lpad(s::text, 5, '0'), 'Product ' || s, 'unit', 1.00, '', true, now()
FROM generate_series(0, {skus} - 1) s;

INSERT INTO branches_branch (code, name, credential_hash, last_seen_at, high_water_seq, max_seq_seen,
                             duplicates_absorbed, ingest_mark, created_at)
SELECT 'B' || lpad(b::text, 3, '0'), 'Branch ' || b, '', now(), {last_seq}, {last_seq}, 0, 1, now()
FROM generate_series(1, {branches}) b;

-- seq 1: the opening receipt, 500 of every SKU
INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at, applied,
                                  ingest_mark)
SELECT gen_random_uuid(), code, 1, 'stock.received', now(), 1, '{{"transfer_id": null, "lines": []}}', '', now(), true,
       1
FROM branches_branch;
INSERT INTO inventory_stockmovement (id, branch, sku, quantity, kind, reference, occurred_at, seq)
SELECT gen_random_uuid(), b.code, p.sku, 500, 'receipt', 'opening', now(), 1
FROM branches_branch b CROSS JOIN inventory_product p;

-- seq 2 .. sales + 1: one-line sales, every SKU sold in turn
CREATE TEMP TABLE sale AS
SELECT b.code AS branch, s AS seq, gen_random_uuid() AS id, gen_random_uuid() AS sale_id,
       'SKU-' || lpad(((s - 2) % {skus})::text, 5, '0') AS sku,
       CASE WHEN b.n % 10 = 0 AND s = 2 THEN 600 ELSE 1 END AS quantity
FROM (SELECT code, row_number() OVER (ORDER BY code) AS n FROM branches_branch) b
CROSS JOIN generate_series(2, {sales} + 1) s;
INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at,
                                  sale_ref, applied, ingest_mark)
SELECT id, branch, seq, 'sale.completed', now(), 1,
       jsonb_build_object('sale_id', sale_id, 'number', seq, 'cashier', 'bench', 'payment_method', 'cash',
                          'total', quantity::text || '.00',
                          'lines', jsonb_build_array(jsonb_build_object('sku', sku, 'quantity', quantity::text,
                                                                        'unit_price', '1.00'))),
       '', now(), sale_id, true, 1
FROM sale;
INSERT INTO inventory_stockmovement (id, branch, sku, quantity, kind, reference, occurred_at, seq)
SELECT gen_random_uuid(), branch, sku, -quantity, 'sale', id::text, now(), seq FROM sale;

"""
FILL_SQL += LEVELS_AND_SNAPSHOT_SQL


def fill() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            FILL_SQL.format(skus=SKUS, branches=BRANCHES, sales=SALES_PER_BRANCH, last_seq=SALES_PER_BRANCH + 2)
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def new_events_ingest() -> None:
    """10,000 new one-line sales through the real ingestion service, 500 per batch, spread over 20 branches."""
    from branches.ingest import events_ingest
    from branches.models import Branch

    per_branch = NEW_EVENTS // 20
    for branch in Branch.objects.order_by("code")[:20]:
        first = branch.max_seq_seen + 1
        events = [
            one_line_sale_event(branch=branch.code, seq=seq, sku=f"SKU-{seq % SKUS:05d}")
            for seq in range(first, first + per_branch)
        ]
        events_ingest(branch=branch, events=events)


def timed(label: str, action) -> tuple[str, float, dict]:
    started = time.perf_counter()
    run = action()
    seconds = time.perf_counter() - started
    summary = getattr(run, "summary", {})
    print(f"{label:<45} {seconds:8.2f} s   {summary.get('opened') or ''}", flush=True)
    return label, seconds, summary


def main() -> None:
    central_database_ready(DATABASE)
    from django.db import connection

    from inventory.models import StockMovement
    from reconciliation.services import reconcile

    started = time.perf_counter()
    fill()
    rows = StockMovement.objects.count()
    print(f"filled {rows:,} ledger rows, {BRANCHES} branches x {SKUS} SKUs in {time.perf_counter() - started:.1f} s")
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, {os.cpu_count()} cores")
    results = [
        timed("full pass, cold (opens the discrepancies)", lambda: reconcile(full=True)),
        timed("full pass, steady (nothing new)", lambda: reconcile(full=True)),
    ]
    started = time.perf_counter()
    new_events_ingest()
    print(f"ingested {NEW_EVENTS:,} new events in {time.perf_counter() - started:.2f} s (not part of the pass)")
    results.append(timed(f"incremental pass after {NEW_EVENTS:,} new events", reconcile))
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        new_events_ingest()
        profile = cProfile.Profile()
        profile.runcall(reconcile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    print("\n| pass | seconds | target |\n|---|---|---|")
    targets = ["≤ 10 s", "≤ 10 s", "≤ 1 s"]
    for (label, seconds, _), target in zip(results, targets, strict=True):
        print(f"| {label} | {seconds:.2f} | {target} |")


if __name__ == "__main__":
    main()
