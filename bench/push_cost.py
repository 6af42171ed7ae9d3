"""What one sync request costs central in CPU, in-process (no HTTP server): a push of n events for n = 1, 5, 50,
500, and a change-feed pull with nothing new, on a fresh PostgreSQL database with 500 registered branches. CPU
time (``time.process_time``, this process: Django and psycopg; the events pushed are made before the clock starts)
barely depends on what else the machine runs, so it is the input of the capacity model in docs/scale.md even on a
loaded machine. PostgreSQL's CPU is every process of the server's (backends, WAL writer, checkpointer: all that the
requests made it do), so run it with nothing else using that server. Wall time per request is printed alongside
and does depend on the load.

    .venv/bin/python bench/push_cost.py     (BENCH_POSTGRES_URL: the server, default the local one)
    PUSH_COST_JOBS=0 .venv/bin/python bench/push_cost.py     (the requests only, not the periodic jobs)
    PUSH_COST_PROFILE=n .venv/bin/python bench/push_cost.py     (also: where the CPU of a push of n events goes;
                                                                 1 and 500 are the steady state's and the catch-up's)
"""

import json
import os
import re
import sys
import tempfile
import time
import uuid
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BRANCHES = 500
SIZES = (1, 5, 50, 500)
REQUESTS = {1: 400, 5: 300, 50: 100, 500: 12}


def main() -> None:
    import psycopg

    database = f"ecm_push_cost_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        os.environ.update(
            {
                "ECOMARKET_MODE": "central",
                "DATA_DIR": tempfile.mkdtemp(prefix="ecomarket-push-cost-"),
                "SECRET_KEY": "bench-only",
                "ALLOWED_HOSTS": "testserver",
                "CELERY_BROKER_URL": "memory://",
                "LOG_LEVEL": "WARNING",
                "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
                "DATABASE_URL": re.sub(r"/[^/]*$", f"/{database}", POSTGRES),
            }
        )
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from django.test import Client

        from harness.chainsim import SimBranch, SimSettings, Stats

        call_command("migrate", verbosity=0)
        call_command("load_demo_catalog", stdout=StringIO())
        out = StringIO()
        call_command("register_branch", *[f"S{i:04d}" for i in range(1, BRANCHES + 1)], stdout=out)
        credentials = dict(re.findall(r"branch: (\S+).*\ncredential: (\S+)", out.getvalue()))
        stats = Stats()
        branches = [SimBranch(code, credential, SimSettings(), stats) for code, credential in credentials.items()]
        clients = {b.code: Client(HTTP_AUTHORIZATION=f"Branch {b.credential}") for b in branches}

        def push(branch: SimBranch, size: int) -> None:
            if not branch.history:
                branch.opening_stock()
            while len(branch.pending) < size:
                branch.sale()
            seqs = sorted(branch.pending)[:size]
            body = json.dumps({"branch": branch.code, "events": [branch.history[seq] for seq in seqs]})
            answer = clients[branch.code].post("/api/v1/sync/events", body, content_type="application/json")
            assert answer.status_code == 200, answer.content
            branch.pending.difference_update(seqs)

        def pull(branch: SimBranch, _size: int) -> None:
            answer = clients[branch.code].get("/api/v1/sync/changes", {"since": branch.cursor})
            assert answer.status_code == 200

        for index, branch in enumerate(branches):  # warm-up: every branch's opening receipt
            push(branch, 1)
            if index < 50:
                pull(branch, 0)
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
        print(
            "| request | requests | CPU ms per request | CPU ms per event | PostgreSQL CPU ms per request "
            "| PostgreSQL CPU ms per event | wall ms per request |"
        )
        print("|---|---|---|---|---|---|---|")
        rows = [(f"push of {size} event(s)", push, size) for size in SIZES] + [("pull, nothing new", pull, 0)]
        for name, action, size in rows:
            count = REQUESTS.get(size, 400)
            for branch in branches[:count]:  # the events to push, made before the clocks start
                while len(branch.pending) < size:
                    branch.sale()
            wall, cpu, postgres = time.perf_counter(), time.process_time(), postgres_cpu_s()
            for number in range(count):
                action(branches[number % BRANCHES], size)
            postgres = (postgres_cpu_s() - postgres) / count * 1000
            wall, cpu = (time.perf_counter() - wall) / count * 1000, (time.process_time() - cpu) / count * 1000
            per_event = (
                f"{cpu / size:.2f} | {postgres:.2f} | {postgres / size:.2f}" if size else f"– | {postgres:.2f} | –"
            )
            print(f"| {name} | {count} | {cpu:.2f} | {per_event} | {wall:.1f} |", flush=True)
        if os.environ.get("PUSH_COST_JOBS", "1") == "1":
            periodic_jobs_cost(branches, push)
        if os.environ.get("PUSH_COST_PROFILE"):
            size = int(os.environ["PUSH_COST_PROFILE"])
            profile_pushes(lambda number: push(branches[number % BRANCHES], size), count=REQUESTS.get(size, 400))
        connections.close_all()
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the local PostgreSQL server: its live processes, and the children it has reaped
    (a backend that closed its connection)."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name", "ppid"]):
        if process.info["name"] != "postgres":
            continue
        try:
            times = process.cpu_times()
            total += times.user + times.system
            if process.info["ppid"] == 1 or psutil.Process(process.info["ppid"]).name() != "postgres":
                total += times.children_user + times.children_system  # the postmaster: its exited backends
        except psutil.Error:
            continue
    return total


def periodic_jobs_cost(branches, push, rounds: int = 3, per_branch: int = 15) -> None:
    """What Celery's periodic jobs cost central at chain scale: the incremental reconciliation pass and the report
    roll-up, each over every branch, after each branch stored ``per_branch`` new events (a 15 s interval of the
    chain run: a sale every 2 s, pushed 5 at a time), and once more with nothing new. With PUSH_COST_PROFILE, one
    more round with new events is profiled instead of timed."""
    from reconciliation.services import reconcile
    from reports.services import report_rollup_refresh

    reconcile()
    report_rollup_refresh()
    print()
    print("| periodic job, 500 branches | new events per branch | CPU ms per run | wall ms per run |")
    print("|---|---|---|---|")
    profiled = os.environ.get("PUSH_COST_PROFILE")
    for new in [per_branch] * rounds + [0] + ([per_branch] if profiled else []):
        for branch in branches:
            for _ in range(new // 5):
                push(branch, 5)
        for name, job in (("incremental reconciliation", reconcile), ("report roll-up", report_rollup_refresh)):
            if profiled and new and rounds == 0:
                profile_calls(name, job)
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            job()
            wall, cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
            print(f"| {name} | {new} | {cpu:.0f} | {wall:.0f} |", flush=True)
        rounds -= bool(new)


def profile_calls(name: str, call) -> None:
    """cProfile of one call, its costliest functions by cumulative time."""
    cProfile, pstats = _profiler_modules()
    print(f"profile: {name}")
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    pstats.Stats(profiler).strip_dirs().sort_stats("cumulative").print_stats(30)


def profile_pushes(push_one, count: int) -> None:
    """cProfile of ``count`` pushes, the costliest functions by their own and by cumulative time."""
    cProfile, pstats = _profiler_modules()
    profiler = cProfile.Profile()
    profiler.enable()
    for number in range(count):
        push_one(number)
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


def _profiler_modules():
    # bench/profile.py would shadow the standard library's profile module, which cProfile imports.
    sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).resolve().parent]
    sys.modules.pop("profile", None)
    import cProfile
    import pstats

    return cProfile, pstats


if __name__ == "__main__":
    main()
