"""Where a request's time goes, in-process (no HTTP server, no load generator): pyinstrument profiles of a branch
sale, a branch stock read and a 500-event ingestion batch at central, written to docs/profiles/, with the plain
(unprofiled) time per request printed alongside.

    .venv/bin/python bench/profile.py     (or: make bench-profile; needs `make bench-setup` once)

Each part runs in its own Python process, because Django is configured once per process and the parts need
different modes. The branch runs on a SQLite file (WAL, synchronous=FULL), central on a fresh PostgreSQL database.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "docs" / "profiles"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WARM_UP, MEASURED = 50, 300
INGEST_BATCHES = 10


def _django(mode: str, **env: str) -> None:
    os.environ.update(
        {
            "ECOMARKET_MODE": mode,
            "DATA_DIR": tempfile.mkdtemp(prefix=f"ecomarket-profile-{mode}-"),
            "SECRET_KEY": "profile-only",
            "ALLOWED_HOSTS": "testserver",
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
            **env,
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_demo_catalog", stdout=StringIO())


def _measure(name: str, request, count: int) -> None:
    """Profile ``count`` calls of ``request``, then time as many without the profiler."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(count):
        request()
    profiler.stop()
    started = time.perf_counter()
    for _ in range(count):
        request()
    plain_ms = (time.perf_counter() - started) / count * 1000
    PROFILES.mkdir(parents=True, exist_ok=True)
    text = profiler.output_text(unicode=False, color=False)
    (PROFILES / f"{name}.txt").write_text(f"# bench/profile.py, {count} requests, plain {plain_ms:.2f} ms each\n{text}")
    print(f"{name}: {plain_ms:.2f} ms per request without the profiler -> docs/profiles/{name}.txt", flush=True)


def branch() -> None:
    _django("branch", BRANCH_CODE="B001", CENTRAL_URL="http://127.0.0.1:9")
    from django.test import Client

    from ecomarket.roles import Role, staff_user_create

    _, token = staff_user_create(username="caja", role=Role.CASHIER)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    receipt = {"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1000000"}]}
    assert client.post("/api/v1/stock/receipts", receipt, content_type="application/json").status_code == 201
    sale = json.dumps({"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1"}]})

    def sell():
        assert client.post("/api/v1/sales", sale, content_type="application/json").status_code == 201

    def read():
        assert client.get("/api/v1/stock/BEB-AGUA-2L").status_code == 200

    for request in (sell, read):
        for _ in range(WARM_UP):
            request()
    _measure("branch-sale", sell, MEASURED)
    _measure("branch-stock-read", read, MEASURED)
    _write_lock_share(sell, MEASURED)


def _write_lock_share(sell, count: int) -> None:
    """How much of a sale runs holding the branch's write lock (the part no other till can overlap), and how much
    of that is the commit: the lock and commit methods of our SQLite backend are timed around ``count`` sales."""
    from ecomarket.sqlite.base import DatabaseWrapper

    spent = {"held": 0.0, "commit": 0.0, "cpu": 0.0}
    started = {}
    acquire, release, commit = (
        DatabaseWrapper._writer_lock_acquire,
        DatabaseWrapper._writer_lock_release,
        DatabaseWrapper._commit,
    )

    def timed_acquire(self):
        acquire(self)
        started["wall"], started["cpu"] = time.perf_counter(), time.thread_time()

    def timed_release(self):
        if self._writer_locked:
            spent["held"] += time.perf_counter() - started["wall"]
            spent["cpu"] += time.thread_time() - started["cpu"]
        release(self)

    def timed_commit(self):
        begun = time.perf_counter()
        try:
            return commit(self)
        finally:
            spent["commit"] += time.perf_counter() - begun

    DatabaseWrapper._writer_lock_acquire = timed_acquire
    DatabaseWrapper._writer_lock_release = timed_release
    DatabaseWrapper._commit = timed_commit
    try:
        begun = time.perf_counter()
        for _ in range(count):
            sell()
        total = time.perf_counter() - begun
    finally:
        DatabaseWrapper._writer_lock_acquire, DatabaseWrapper._writer_lock_release = acquire, release
        DatabaseWrapper._commit = commit
    per = {name: value / count * 1000 for name, value in spent.items()}
    print(
        f"branch-sale: {total / count * 1000:.2f} ms per sale, of which {per['held']:.2f} ms holding the write lock"
        f" ({per['cpu']:.2f} ms of CPU; the commit {per['commit']:.2f} ms)",
        flush=True,
    )


def central() -> None:
    import psycopg

    database = f"ecm_profile_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        _django("central", DATABASE_URL=re.sub(r"/[^/]*$", f"/{database}", POSTGRES))
        from django.core.management import call_command
        from django.db import connections
        from django.test import Client

        sys.path.insert(0, str(ROOT / "bench"))
        import ingest

        out = StringIO()
        call_command("register_branch", "B001", stdout=out)
        credential = re.search(r"credential: (\S+)", out.getvalue()).group(1)
        client = Client(HTTP_AUTHORIZATION=f"Branch {credential}")
        ingest.BATCHES_PER_BRANCH = 2 + 2 * INGEST_BATCHES
        batches = iter(ingest.batches_for("B001"))

        def push():
            body = json.dumps(next(batches))
            assert client.post("/api/v1/sync/events", body, content_type="application/json").status_code == 200

        for _ in range(2):  # warm-up
            push()
        _measure("central-ingest-500-events", push, INGEST_BATCHES)
        connections.close_all()
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    if len(sys.argv) > 1:
        {"branch": branch, "central": central}[sys.argv[1]]()
        return
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: in-process profiles (pyinstrument)", flush=True)
    for part in ("branch", "central"):
        subprocess.run([sys.executable, __file__, part], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
