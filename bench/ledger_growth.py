"""Ledger growth: central with 10,000,000 branch events, 500 branches x 2,000 SKUs, on PostgreSQL.

    .venv/bin/python bench/ledger_growth.py            (or: make bench-ledger)

Builds a fresh database (``ecm_bench_ledger`` on BENCH_POSTGRES_URL, default the local server; LEDGER_DATABASE names
another) and fills it with SQL
as ingestion would have left it: every branch 20,000 events (seq 1 an opening receipt of 500 of every SKU, seqs 2 ..
19,999 one-line sales, seq 20,000 a snapshot in which 1% of the levels disagree; every tenth branch oversold one SKU),
a StockMovement ledger row per receipt line and sale line, a StockLevel per (branch, SKU), every event marked with
its branch's ingest mark. The tables' indexes and constraints are dropped for the fill and rebuilt after it (the
same DDL, read back from the catalogue), then VACUUM ANALYZE, then one full reconciliation pass (it opens the
discrepancies and records every branch's checked mark; the fill's one-off cost). BENCH_REUSE=1 skips all of that and
reuses the database the previous run filled. Either way the chain's per-SKU stock totals are then rebuilt from the
levels (the fill wrote those around the code that keeps the totals). LEDGER_EVENTS_PER_BRANCH=200 fills a smaller
ledger with the same branches, SKUs, levels and open discrepancies (what the pages' cost depends on).

Then it times, printing the load average at each step (the machine is shared; the figures are what they are under
that load): the incremental reconciliation pass after 10,000 new events ingested through the real ingestion
service (target <= 1 s), and through the full request path (Django's test client, in-process, a manager's session
or token) the dashboard page, /api/v1/inventory for one branch, /api/v1/inventory/totals and /api/v1/discrepancies
(target <= 200 ms each); median and worst of REPEAT runs; last the totals again after a fold of the chain stock
changes the rounds wrote (the beat's job, not run here).
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (  # noqa: E402
    LEVELS_AND_SNAPSHOT_SQL,
    central_database_ready,
    central_in_process,
    get_timed,
    load_average,
    one_line_sale_event,
)

DATABASE = os.environ.get("LEDGER_DATABASE", "ecm_bench_ledger")
BRANCHES, SKUS, EVENTS_PER_BRANCH, NEW_EVENTS, NEW_BRANCHES, REPEAT = (
    int(os.environ.get("LEDGER_BRANCHES", 500)),
    2000,
    int(os.environ.get("LEDGER_EVENTS_PER_BRANCH", 20_000)),
    10_000,
    20,
    5,
)
TABLES = ("branches_branchevent", "inventory_stockmovement", "inventory_stocklevel")

central_in_process(database=DATABASE, ALLOWED_HOSTS="testserver")


FILL_SQL = """
INSERT INTO inventory_product (sku, name, unit, price, barcode, active, updated_at)
SELECT 'SKU-' || lpad(s::text, 5, '0'), 'Product ' || s, 'unit', 1.00 + (s % 50) * 0.25, '', true, now()
FROM generate_series(0, {skus} - 1) s;

INSERT INTO branches_branch (code, name, credential_hash, last_seen_at, high_water_seq, max_seq_seen,
                             duplicates_absorbed, pending_reported, ingest_mark, created_at)
SELECT 'B' || lpad(b::text, 3, '0'), 'Branch ' || b, '', now(), {last_seq}, {last_seq}, 0, 0, 1, now()
FROM generate_series(1, {branches}) b;

-- seq 1: the opening receipt, 500 of every SKU
INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at, applied,
                                  ingest_mark)
SELECT gen_random_uuid(), code, 1, 'stock.received', now() - interval '1 year', 1,
       '{{"transfer_id": null, "lines": []}}', '', now() - interval '1 year', true, 1
FROM branches_branch;
INSERT INTO inventory_stockmovement (id, branch, sku, quantity, kind, reference, occurred_at, seq)
SELECT gen_random_uuid(), b.code, p.sku, 500, 'receipt', 'opening', now() - interval '1 year', 1
FROM branches_branch b CROSS JOIN inventory_product p;

-- seq 2 .. last - 1: one-line sales spread over the year, every SKU sold in turn; each sale event and its ledger
-- row in one statement, so the 10 M rows are generated once, not kept in a temporary table
WITH sale AS (
    SELECT b.code AS branch, s AS seq, gen_random_uuid() AS id, gen_random_uuid() AS sale_id,
           now() - interval '1 year' + s * interval '1 year' / {last_seq} AS at,
           'SKU-' || lpad(((s - 2) % {skus})::text, 5, '0') AS sku,
           CASE WHEN b.n % 10 = 0 AND s = 2 THEN 600 ELSE 1 END AS quantity
    FROM (SELECT code, row_number() OVER (ORDER BY code) AS n FROM branches_branch) b
    CROSS JOIN generate_series(2, {last_seq} - 1) s
), movement AS (
    INSERT INTO inventory_stockmovement (id, branch, sku, quantity, kind, reference, occurred_at, seq)
    SELECT gen_random_uuid(), branch, sku, -quantity, 'sale', id::text, at, seq FROM sale
)
INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at,
                                  sale_ref, applied, ingest_mark)
SELECT id, branch, seq, 'sale.completed', at, 1,
       jsonb_build_object('sale_id', sale_id, 'number', seq, 'cashier', 'bench', 'payment_method', 'cash',
                          'total', quantity::text || '.00',
                          'lines', jsonb_build_array(jsonb_build_object('sku', sku, 'quantity', quantity::text,
                                                                        'unit_price', '1.00'))),
       '', at + interval '2 seconds', sale_id, true, 1
FROM sale;

"""
FILL_SQL += LEVELS_AND_SNAPSHOT_SQL


def fill() -> None:
    """The SQL fill with the big tables' indexes and constraints dropped, then rebuilt from the same definitions: a
    10 M-row insert into five live indexes (one on a random UUID) is hours here, a sorted index build is minutes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('p', 'u', 'f', 'c')",
            [list(TABLES)],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s))",
            [list(TABLES), list(TABLES)],
        )
        indexes = cursor.fetchall()
        for table, name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        cursor.execute(FILL_SQL.format(skus=SKUS, branches=BRANCHES, last_seq=EVENTS_PER_BRANCH))
        print(f"  rows inserted in {time.perf_counter() - started:.0f} s; load average {load_average()}", flush=True)
        started = time.perf_counter()
        for table, name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            cursor.execute(definition)
        print(
            f"  {len(constraints)} constraints and {len(indexes)} indexes rebuilt in "
            f"{time.perf_counter() - started:.0f} s; load average {load_average()}",
            flush=True,
        )
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.0f} s; load average {load_average()}", flush=True)
    chain_totals_rebuild()


def chain_totals_rebuild() -> None:
    """The chain's per-SKU totals from the levels: the fill wrote the levels with SQL, around the ledger's writes
    that keep the totals; and a reused database may have been run by code that did not keep them."""
    from inventory.ledger import chain_stock_rebuild

    started = time.perf_counter()
    chain_stock_rebuild()
    print(f"  chain totals rebuilt in {time.perf_counter() - started:.1f} s; load average {load_average()}", flush=True)


def new_events_ingest(round_: int) -> None:
    """NEW_EVENTS new one-line sales through the real ingestion service, 500 per batch, over NEW_BRANCHES branches
    (a different set each round, so the pass finds new events on branches it had marked)."""
    from branches.ingest import events_ingest
    from branches.models import Branch

    per_branch = NEW_EVENTS // NEW_BRANCHES
    offset = (round_ * NEW_BRANCHES) % BRANCHES
    for branch in Branch.objects.order_by("code")[offset : offset + NEW_BRANCHES]:
        first = branch.max_seq_seen + 1
        for start in range(first, first + per_branch, 500):
            events = [
                one_line_sale_event(branch=branch.code, seq=seq, sku=f"SKU-{seq % SKUS:05d}")
                for seq in range(start, min(start + 500, first + per_branch))
            ]
            events_ingest(branch=branch, events=events)


def summary(label: str, times: list[float], target_ms: int, note: str = "") -> tuple:
    median, worst = statistics.median(times), max(times)
    print(
        f"{label:<52} median {median * 1000:8.1f} ms  worst {worst * 1000:8.1f} ms  {note}load {load_average()}",
        flush=True,
    )
    return label, median, worst, target_ms


def reconciliation_timed() -> tuple:
    from reconciliation.services import reconcile

    times = []
    for round_ in range(REPEAT):
        started = time.perf_counter()
        new_events_ingest(round_)
        ingested = time.perf_counter() - started
        started = time.perf_counter()
        run = reconcile()
        times.append(time.perf_counter() - started)
        print(
            f"  round {round_ + 1}: {NEW_EVENTS:,} events ingested in {ingested:.1f} s (not timed), incremental "
            f"pass {times[-1]:.2f} s {getattr(run, 'summary', '')}; load {load_average()}",
            flush=True,
        )
    return summary(f"incremental reconciliation after {NEW_EVENTS:,} new events", times, 1000)


def manager_clients() -> tuple:
    """A manager's API client (token) and page client (session)."""
    from django.test import Client
    from rest_framework.test import APIClient

    from ecomarket.roles import Role, staff_user_create

    user, token = staff_user_create(username=f"bench-manager-{time.time_ns()}", role=Role.MANAGER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    page = Client()
    page.force_login(user)
    return api, page


def request_timed(label: str, client, path: str, params: dict) -> tuple:
    client.get(path, params)  # the first request pays for Django's URL and template loading, not the query
    times, response = get_timed(client, path, params, repeat=REPEAT)
    return summary(label, times, 200, note=f"{len(response.content):>8,} B  ")


def requests_timed() -> list[tuple]:
    api, page = manager_clients()
    cases = [
        ("/dashboard/ page", page, "/dashboard/", {}),
        ("/dashboard/?branch=B250 page", page, "/dashboard/", {"branch": "B250"}),
        ("/api/v1/inventory?branch=B250", api, "/api/v1/inventory", {"branch": "B250"}),
        (
            "/api/v1/inventory?branch=B250&sku=SKU-00042",
            api,
            "/api/v1/inventory",
            {"branch": "B250", "sku": "SKU-00042"},
        ),
        ("/api/v1/inventory/totals", api, "/api/v1/inventory/totals", {}),
        ("/api/v1/discrepancies", api, "/api/v1/discrepancies", {}),
        ("/api/v1/discrepancies?branch=B250", api, "/api/v1/discrepancies", {"branch": "B250"}),
    ]
    return [request_timed(label, client, path, params) for label, client, path, params in cases]


def totals_after_fold_timed() -> tuple:
    """The totals again once the changes the rounds above wrote (unfolded: no beat runs here) are folded, as the
    beat does every CHAIN_STOCK_FOLD_INTERVAL_S."""
    from inventory.ledger import chain_stock_fold

    started = time.perf_counter()
    folded = chain_stock_fold()
    print(f"  fold of {folded:,} chain stock changes: {time.perf_counter() - started:.2f} s", flush=True)
    api, _ = manager_clients()
    return request_timed("/api/v1/inventory/totals after a fold", api, "/api/v1/inventory/totals", {})


def main() -> None:
    reuse = bool(os.environ.get("BENCH_REUSE"))
    central_database_ready(DATABASE, reuse=reuse)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {cursor.fetchone()[0].split(' on ')[0]}, "
            f"{os.cpu_count()} cores, load average {load_average()}",
            flush=True,
        )
    if reuse:
        print(f"reusing {DATABASE}", flush=True)
        chain_totals_rebuild()
    else:
        from reconciliation.services import reconcile

        started = time.perf_counter()
        fill()
        print(f"filled in {time.perf_counter() - started:.0f} s (not timed)", flush=True)
        started = time.perf_counter()
        run = reconcile(full=True)
        print(
            f"full pass, cold (the fill's one-off): {time.perf_counter() - started:.1f} s "
            f"{getattr(run, 'summary', '')}; load {load_average()}",
            flush=True,
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM branches_branchevent), (SELECT count(*) FROM inventory_stockmovement), "
            "(SELECT count(*) FROM inventory_stocklevel), pg_size_pretty(pg_database_size(current_database()))"
        )
        events, movements, levels, size = cursor.fetchone()
    print(f"{events:,} events, {movements:,} ledger rows, {levels:,} stock levels, database {size}", flush=True)
    results = [reconciliation_timed(), *requests_timed(), totals_after_fold_timed()]
    print(f"load average at the end: {load_average()}")
    print("\n| step | median | worst | target |\n|---|---|---|---|")
    for label, median, worst, target_ms in results:
        print(f"| {label} | {median * 1000:.0f} ms | {worst * 1000:.0f} ms | ≤ {target_ms} ms |")


if __name__ == "__main__":
    main()
