"""CPU per sale and per stock read in-process (Django test client, cashier token), branch mode on a temp SQLite:
the cost of the request path without HTTP or load-generator noise. Also the Python function calls per request
(cProfile over 100 requests): a count, not a time, so it does not move with the machine's load. Compare two trees:

    git archive <rev> | tar -x -C /tmp/before && .venv/bin/python bench/sale_cpu.py /tmp/before
    .venv/bin/python bench/sale_cpu.py .
"""

import os
import sys
import tempfile
import time
from collections.abc import Callable


def configure(tree: str) -> None:
    sys.path.insert(0, tree)
    os.chdir(tree)
    os.environ.update(
        {
            "ECOMARKET_MODE": "branch",
            "SECRET_KEY": "bench-only",
            "DATA_DIR": tempfile.mkdtemp(prefix="sale-cpu-"),
            "ENV_FILE": "",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
            "ALLOWED_HOSTS": "testserver",
            "SQLITE_WRITER_NICE": "0",
        }
    )


def per_call_us(count: int, call: Callable[[], object]) -> float:
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) / count * 1e6


def calls_per_call(count: int, call: Callable[[], object]) -> float:
    """Python and C function calls per ``call()`` (what cProfile counts; counted with a profile hook, since this
    folder's profile.py hides the standard library's)."""
    calls = 0

    def counted(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(counted)
    try:
        for _ in range(count):
            call()
    finally:
        sys.setprofile(None)
    return calls / count


def main(tree: str) -> None:
    configure(tree)
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from ecomarket.roles import Role, staff_user_create
    from inventory.models import Unit
    from inventory.tests.factories import product_make, stock_receive

    call_command("migrate", verbosity=0)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", barcode="7790742023001", name="Leche")
    stock_receive(**{"LAC-LECHE-1L": "1000000"})
    _, token = staff_user_create(username="caja", role=Role.CASHIER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def sale():
        return client.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json")

    def read():
        return client.get("/api/v1/stock/LAC-LECHE-1L")

    assert sale().status_code == 201
    sales = [per_call_us(300, sale) for _ in range(5)]
    reads = [per_call_us(1000, read) for _ in range(5)]
    print(f"{tree}: sale {min(sales):.0f} µs, stock read {min(reads):.0f} µs (CPU, minimum of 5 batches)")
    print(f"{tree}: sale {calls_per_call(100, sale):.0f}, stock read {calls_per_call(100, read):.0f} function calls")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
