"""CPU per sale and per stock read in-process (Django test client, cashier token), branch mode on a temp SQLite:
the cost of the request path without HTTP or load-generator noise. Compare two trees:

    git archive <rev> | tar -x -C /tmp/before && .venv/bin/python bench/sale_cpu.py /tmp/before
    .venv/bin/python bench/sale_cpu.py .
"""

import os
import sys
import tempfile
import time

tree = sys.argv[1]
sys.path.insert(0, tree)
os.chdir(tree)
data = tempfile.mkdtemp(prefix="ab-")
os.environ.update(
    {
        "ECOMARKET_MODE": "branch",
        "SECRET_KEY": "ab",
        "DATA_DIR": data,
        "ENV_FILE": "",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
        "ALLOWED_HOSTS": "testserver",
        "LOG_FORMAT": "text",
        "SQLITE_WRITER_NICE": "0",
    }
)
import django

django.setup()
from django.core.management import call_command

call_command("migrate", verbosity=0)
from rest_framework.test import APIClient

from ecomarket.roles import Role, staff_user_create
from inventory.models import Unit
from inventory.tests.factories import product_make, stock_receive

product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", barcode="7790742023001", name="Leche")
stock_receive(**{"LAC-LECHE-1L": "1000000"})
user, token = staff_user_create(username="caja", role=Role.CASHIER)
client = APIClient()
client.credentials(HTTP_AUTHORIZATION=f"Token {token}")


def batch(n, fn):
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1e6


sale = lambda: client.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json")
read = lambda: client.get("/api/v1/stock/LAC-LECHE-1L")
assert sale().status_code == 201
sales = [batch(300, sale) for _ in range(5)]
reads = [batch(1000, read) for _ in range(5)]
print(f"{tree}: sale {min(sales):.0f} us, read {min(reads):.0f} us")
