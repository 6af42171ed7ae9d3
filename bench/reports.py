"""Head office reports over 1,000,000 sale events, 20 branches x 200 SKUs, on PostgreSQL.

    .venv/bin/python bench/reports.py            (or: make bench-reports)

Builds a fresh database (``ecm_bench_reports`` on BENCH_POSTGRES_URL, default the local server) and fills it with
SQL: every branch 50,000 two-line sales spread over 30 days (1,000,000 sale events), a void of every hundredth
sale and a return of every two-hundredth (15,000 more events), and on-hand for every (branch, SKU). Then it times
the roll-up of all of it (once, as the beat task would over time), and each report through the API's full request
path (Django's test client, in-process, a manager's token): median and worst of REPEAT runs, over 30 days and all
branches, over 7 days, for one branch, for one SKU, and per hour for one day; and the /reports/ page, which builds
all five reports and their charts. The target: every report answers in <= 1 s. BENCH_REUSE=1 times the
reports again on the database the previous run filled and rolled up (the fill and the roll-up take minutes).
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import central_database_ready, central_in_process, get_timed, load_average  # noqa: E402

DATABASE = "ecm_bench_reports"
BRANCHES, SKUS, SALES_PER_BRANCH, DAYS, REPEAT = 20, 200, 50_000, 30, 5
THREE = "SKU-0001,SKU-0002,SKU-0003"

central_in_process(database=DATABASE, ALLOWED_HOSTS="testserver")


FILL_SQL = """
INSERT INTO inventory_product (sku, name, unit, price, barcode, active, updated_at)
SELECT 'SKU-' || lpad(s::text, 4, '0'), 'Product ' || s, 'unit', 1.00 + (s % 50) * 0.25, '', true, now()
FROM generate_series(0, {skus} - 1) s;

INSERT INTO branches_branch (code, name, credential_hash, last_seen_at, high_water_seq, max_seq_seen,
                             duplicates_absorbed, ingest_mark, created_at)
SELECT 'B' || lpad(b::text, 3, '0'), 'Branch ' || b, '', now(), {last_seq}, {last_seq}, 0, 1, now()
FROM generate_series(1, {branches}) b;

-- seq 1 .. sales: two-line sales spread evenly over the last {days} days
CREATE TEMP TABLE sale AS
SELECT b.code AS branch, s AS seq, gen_random_uuid() AS sale_id,
       now() - interval '{days} days' + s * interval '{days} days' / {sales} AS at,
       (s * 7 + b.n) % {skus} AS sku1, (s * 13 + b.n + 1) % {skus} AS sku2, 1 + s % 3 AS q1
FROM (SELECT code, row_number() OVER (ORDER BY code) AS n FROM branches_branch) b
CROSS JOIN generate_series(1, {sales}) s;

INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at,
                                  sale_ref, applied, ingest_mark)
SELECT gen_random_uuid(), branch, seq, 'sale.completed', at, 1,
       jsonb_build_object(
           'sale_id', sale_id, 'number', seq, 'cashier', 'bench', 'payment_method', 'cash',
           'total', (q1 * (1.00 + (sku1 % 50) * 0.25) + (1.00 + (sku2 % 50) * 0.25))::numeric(12, 2)::text,
           'lines', jsonb_build_array(
               jsonb_build_object('sku', 'SKU-' || lpad(sku1::text, 4, '0'), 'quantity', q1 || '.000',
                                  'unit_price', (1.00 + (sku1 % 50) * 0.25)::numeric(12, 2)::text),
               jsonb_build_object('sku', 'SKU-' || lpad(sku2::text, 4, '0'), 'quantity', '1.000',
                                  'unit_price', (1.00 + (sku2 % 50) * 0.25)::numeric(12, 2)::text))),
       '', at + (seq % 7) * interval '1 second', sale_id, true, 1
FROM sale;

-- voids of every hundredth sale, returns of one litre of every two-hundredth's first line
INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at,
                                  sale_ref, applied, ingest_mark)
SELECT gen_random_uuid(), branch, {sales} + seq / 100, 'sale.voided', at + interval '5 minutes', 1,
       jsonb_build_object('sale_id', sale_id, 'reason', 'bench'), '', at + interval '5 minutes 2 seconds',
       sale_id, true, 1
FROM sale WHERE seq % 100 = 0;
INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at,
                                  sale_ref, applied, ingest_mark)
SELECT gen_random_uuid(), branch, {sales} + {sales} / 100 + (seq - 50) / 200 + 1, 'return.completed',
       at + interval '1 hour', 1,
       jsonb_build_object('return_id', gen_random_uuid(), 'sale_id', sale_id, 'lines',
           jsonb_build_array(jsonb_build_object('sku', 'SKU-' || lpad(sku1::text, 4, '0'), 'quantity', '1.000'))),
       '', at + interval '1 hour 3 seconds', sale_id, true, 1
FROM sale WHERE seq % 200 = 50;

INSERT INTO inventory_stocklevel (branch, sku, on_hand, updated_at)
SELECT b.code, p.sku, (hashtext(b.code || p.sku) % 500)::numeric, now()
FROM branches_branch b CROSS JOIN inventory_product p;
"""


def fill() -> int:
    from django.db import connection

    last_seq = SALES_PER_BRANCH + SALES_PER_BRANCH // 100 + SALES_PER_BRANCH // 200
    with connection.cursor() as cursor:
        cursor.execute(
            FILL_SQL.format(skus=SKUS, branches=BRANCHES, sales=SALES_PER_BRANCH, days=DAYS, last_seq=last_seq)
        )
        cursor.execute("SELECT count(*) FROM branches_branchevent WHERE type = 'sale.completed'")
        (sales,) = cursor.fetchone()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return sales


def main() -> None:
    # BENCH_REUSE=1: time the reports again on the database a previous run filled and rolled up.
    reuse = bool(os.environ.get("BENCH_REUSE"))
    central_database_ready(DATABASE, reuse=reuse)
    if reuse:
        print(f"reusing {DATABASE}; load average {load_average()}")
    else:
        fill_and_roll_up()
    times_reports()


def fill_and_roll_up() -> None:
    from django.db import connection

    from reports.models import BranchHour, SalesDay, SalesHour
    from reports.services import report_rollup_refresh

    started = time.perf_counter()
    sales = fill()
    print(
        f"filled {sales:,} sale events ({BRANCHES} branches x {SKUS} SKUs, {DAYS} days) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(
        f"PostgreSQL {connection.cursor().connection.info.server_version}, {os.cpu_count()} cores, "
        f"load average {load_average()}"
    )

    started = time.perf_counter()
    folded = report_rollup_refresh()
    seconds = time.perf_counter() - started
    print(
        f"roll-up: {folded:,} events folded in {seconds:.1f} s ({folded / seconds:,.0f} events/s) into "
        f"{BranchHour.objects.count():,} (branch, hour), {SalesDay.objects.count():,} (branch, day, SKU) and "
        f"{SalesHour.objects.count():,} (branch, hour, SKU) rows; load average {load_average()}"
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def times_reports() -> None:
    from django.test import Client
    from django.utils import timezone
    from rest_framework.test import APIClient

    from ecomarket.roles import Role, staff_user_create

    user, token = staff_user_create(username=f"bench-manager-{time.time_ns()}", role=Role.MANAGER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    page = Client()
    page.force_login(user)
    today = timezone.localdate()
    month = {"from": (today - timezone.timedelta(days=DAYS)).isoformat(), "to": today.isoformat()}
    week = {"from": (today - timezone.timedelta(days=6)).isoformat(), "to": today.isoformat()}
    day = {
        "from": (today - timezone.timedelta(days=3)).isoformat(),
        "to": (today - timezone.timedelta(days=3)).isoformat(),
    }
    cases = [
        ("sales per day, 30 days, all branches", "/api/v1/reports/sales", month),
        ("sales per day, 7 days, all branches", "/api/v1/reports/sales", week),
        ("sales per hour, 1 day, all branches", "/api/v1/reports/sales", {**day, "grain": "hour"}),
        ("sales per day, 30 days, one branch", "/api/v1/reports/sales", {**month, "branch": "B007"}),
        ("products, 30 days, all branches", "/api/v1/reports/products", month),
        ("products, 30 days, one SKU", "/api/v1/reports/products", {**month, "sku": "SKU-0042"}),
        ("sales per day of 3 SKUs, 30 days", "/api/v1/reports/sales", {**month, "sku": THREE}),
        ("sales per hour of one SKU, 7 days", "/api/v1/reports/sales", {**week, "sku": "SKU-0042", "grain": "hour"}),
        ("returns and voids of 3 SKUs, 30 days", "/api/v1/reports/returns-voids", {**month, "sku": THREE}),
        ("returns and voids, 30 days", "/api/v1/reports/returns-voids", month),
        ("stock on hand and value, all branches", "/api/v1/reports/stock", {}),
        ("sync health per day, 30 days", "/api/v1/reports/sync", month),
        ("sync health per hour, 7 days, all branches", "/api/v1/reports/sync", {**week, "grain": "hour"}),
        (
            "sync health per hour, 7 days, one branch",
            "/api/v1/reports/sync",
            {**week, "branch": "B007", "grain": "hour"},
        ),
        ("/reports/ page (all five + charts), 7 days", "/reports/", week),
        ("/reports/ page (all five + charts), 30 days", "/reports/", month),
        ("/reports/ page (all five + charts), 7 days per hour", "/reports/", {**week, "grain": "hour"}),
        ("CSV: products, 30 days", "/reports/products.csv", month),
    ]
    results = []
    for label, path, params in cases:
        client = page if not path.startswith("/api/") else api
        times, response = get_timed(client, path, params, repeat=REPEAT)
        rows = len(response.json()["rows"]) if path.startswith("/api/") else "-"
        results.append((label, statistics.median(times), max(times), rows))
        print(
            f"{label:<48} median {statistics.median(times) * 1000:7.1f} ms  worst {max(times) * 1000:7.1f} ms  "
            f"rows {rows}",
            flush=True,
        )
    print(f"load average at the end: {load_average()}")
    print("\n| report | median | worst | rows | target |\n|---|---|---|---|---|")
    for label, median, worst, rows in results:
        print(f"| {label} | {median * 1000:.0f} ms | {worst * 1000:.0f} ms | {rows} | ≤ 1 s |")


if __name__ == "__main__":
    main()
