"""What a sale and a stock read cost the database, through the real API views: SQL statements, transactions and
commits (each commit is one fsync of the WAL: synchronous=FULL). The budgets are constants: a change that adds a
statement or a transaction to the hot path fails here, without timing anything (docs/benchmarks.md has the times).
Measured in steady state: after a first request, which may fill a process's caches."""

from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from ecomarket.db import SYNCHRONOUS_LEVELS

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db(transaction=True)]

# A one-line sale: the generations of the tokens and of the prices in force (ecomarket/generations.py), the
# idempotency check, the catalog, on-hand, the next number and seq, the sale, its line, the outbox event, the
# ledger row and the on-hand upsert.
SALE_STATEMENTS = 12
SALE_TRANSACTIONS = 1
# A stock read: the tokens' generation, and the product with its on-hand and price in force.
STOCK_READ_STATEMENTS = 2
STOCK_READ_TRANSACTIONS = 0

TRANSACTION_SQL = {"BEGIN IMMEDIATE", "BEGIN", "COMMIT", "ROLLBACK"}


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    begins: int = 0
    commits: int = 0


@contextmanager
def cost_counted(monkeypatch):
    """The statements run through Django's connection, and the write transactions begun and committed (the
    backend's own BEGIN IMMEDIATE and COMMIT, which no cursor sees), while the block runs."""
    cost = Cost()
    wrapper = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy
    begin, commit = wrapper._start_transaction_under_autocommit, wrapper._commit

    def begin_counted():
        cost.begins += 1
        return begin()

    def commit_counted():
        cost.commits += 1
        return commit()

    monkeypatch.setattr(wrapper, "_start_transaction_under_autocommit", begin_counted)
    monkeypatch.setattr(wrapper, "_commit", commit_counted)
    with CaptureQueriesContext(wrapper) as captured:
        yield cost
    # Django logs the backend's BEGIN and COMMIT among the queries: they are counted as transactions above.
    cost.statements = [query["sql"] for query in captured.captured_queries if query["sql"] not in TRANSACTION_SQL]
    monkeypatch.undo()


def sale(client):
    return client.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json")


def test_the_database_is_durable_as_the_budget_assumes():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == SYNCHRONOUS_LEVELS["FULL"]


def test_a_sale_costs_its_budget_of_statements_and_one_commit(shelf, cashier_client, monkeypatch):
    assert sale(cashier_client).status_code == 201

    with cost_counted(monkeypatch) as cost:
        assert sale(cashier_client).status_code == 201

    assert len(cost.statements) == SALE_STATEMENTS, "\n".join(cost.statements)
    assert (cost.begins, cost.commits) == (SALE_TRANSACTIONS, SALE_TRANSACTIONS)


def test_a_stock_read_costs_its_budget_of_statements_and_no_transaction(shelf, cashier_client, monkeypatch):
    assert cashier_client.get("/api/v1/stock/LAC-LECHE-1L").status_code == 200

    with cost_counted(monkeypatch) as cost:
        assert cashier_client.get("/api/v1/stock/LAC-LECHE-1L").status_code == 200

    assert len(cost.statements) == STOCK_READ_STATEMENTS, "\n".join(cost.statements)
    assert (cost.begins, cost.commits) == (STOCK_READ_TRANSACTIONS, STOCK_READ_TRANSACTIONS)
