"""What the benchmarks share: the seed prototype run as written, wrk as the load generator, result tables.

The prototype's code is read from ``../shared/seed/`` at run time (never copied into this repository) and run with
uvicorn exactly as written, except that its starting stock is raised so a load run measures selling, not refusing.
Its branch notifies ``http://localhost:4000``, so its central runs on port 4000.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.processes import LOOPBACK, Node, Process, poll, port_free  # noqa: E402

SEED = ROOT.parent / "shared" / "seed"
BENCH_POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WRK = ROOT / "bench" / "wrk"
PROTOTYPE_CENTRAL_PORT = 4000


def central_in_process(*, database: str, **env: str) -> None:
    """Make this process a central on its own PostgreSQL database ``database``, before Django is set up: the
    benchmarks that time central's code in-process (reconciliation, reports) fill it with SQL first."""
    os.environ.update(
        {
            "ECOMARKET_MODE": "central",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only"),
            "DATABASE_URL": BENCH_POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}",
            "DATA_DIR": str(ROOT / "var" / database),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
            **env,
        }
    )


def database_create(database: str) -> None:
    """A fresh, empty PostgreSQL database ``database`` (dropped first if it is there)."""
    import psycopg

    with psycopg.connect(BENCH_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')


def central_database_ready(database: str, *, reuse: bool = False) -> None:
    """Create ``database`` afresh (unless ``reuse``: a previous run filled it), set Django up on it and migrate."""
    if not reuse:
        database_create(database)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def get_timed(client, path: str, params: dict, *, repeat: int) -> tuple[list[float], object]:
    """``repeat`` GETs of ``path`` through a Django test client: each one's wall time, and the last response (each
    must answer 200)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, params)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
    return times, response


def load_average() -> str:
    """The machine's load average, for the record: the benchmark shares it with whatever else runs."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# The end of a central ledger filled with SQL: the on-hand projection from the ledger, then each branch's snapshot
# as of the seq before {last_seq}, in which 1% of the levels disagree with the ledger (SKUs ending in 00).
LEVELS_AND_SNAPSHOT_SQL = """
INSERT INTO inventory_stocklevel (branch, sku, on_hand, updated_at)
SELECT branch, sku, sum(quantity), now() FROM inventory_stockmovement GROUP BY branch, sku;

INSERT INTO branches_branchevent (id, branch, seq, type, occurred_at, schema, payload, body_hash, received_at, applied,
                                  ingest_mark)
SELECT gen_random_uuid(), l.branch, {last_seq}, 'stock.snapshot', now(), 1,
       jsonb_build_object('as_of_seq', {last_seq} - 1, 'levels',
           jsonb_agg(jsonb_build_object('sku', l.sku, 'on_hand',
               (l.on_hand - CASE WHEN right(l.sku, 2) = '00' THEN 1 ELSE 0 END)::text) ORDER BY l.sku)),
       '', now(), true, 1
FROM inventory_stocklevel l GROUP BY l.branch;
"""


def require_tools() -> None:
    missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        missing.append("fastapi/uvicorn")
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `make bench-setup` first")


def prototype_sources(stock: int = 10**9) -> dict[str, str]:
    """The seed's two services, {"central": code, "branch": code}, with every starting quantity set to ``stock``."""
    text = "\n".join(path.read_text() for path in sorted(SEED.glob("*")))
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    sources = {}
    for block in blocks:
        if "filepath: EcoMarket/Central/main.py" in block:
            sources["central"] = block
        elif "filepath: EcoMarket/Sucursal1/main.py" in block:
            sources["branch"] = block
    if set(sources) != {"central", "branch"}:
        raise RuntimeError(f"could not find both prototype services in {SEED}")
    return {name: re.sub(r'("\w+": )\d+', rf"\g<1>{stock}", code) for name, code in sources.items()}


class PrototypeService(Process):
    """One of the prototype's FastAPI apps under uvicorn (one worker, as its README would run it)."""

    def __init__(self, name: str, code: str, folder: Path, port: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "main.py").write_text(code)
        self.port = port
        node = Node(mode="prototype", data_dir=folder)
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "main:app",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--app-dir",
            str(folder),
        ]
        super().__init__(node, argv, f"prototype-{name}")

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> "PrototypeService":
        super().start()
        poll(lambda: requests.get(f"{self.url}/docs", timeout=1).status_code == 200, timeout=30, what=f"{self.name} up")
        return self


@contextmanager
def prototype_running(root: Path):
    """The prototype's central (port 4000) and branch, started for the block and stopped after it."""
    sources = prototype_sources()
    central = PrototypeService("central", sources["central"], root / "proto-central", PROTOTYPE_CENTRAL_PORT).start()
    branch = PrototypeService("branch", sources["branch"], root / "proto-branch", port_free()).start()
    try:
        yield central, branch
    finally:
        central.stop()
        branch.stop()


def begin(title: str) -> Path:
    """Check the tools, say what runs when, and give the run a scratch folder."""
    require_tools()
    print(f"{stamp()}: {title}", flush=True)
    return Path(tempfile.mkdtemp(prefix="ecomarket-bench-"))


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int


def _ms(value: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if match is None:
        return float("nan")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    url: str,
    *,
    body: str | None = None,
    auth: str = "",
    seconds: int = 15,
    connections: int = 8,
    threads: int = 2,
    timeout_s: int = 5,
) -> Load:
    """Run wrk against a loopback URL and parse its report (rate, p50, p99, errors)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError("benchmarks only ever target 127.0.0.1")
    script = WRK / ("post.lua" if body is not None else "get.lua")
    env = {**os.environ, "BODY": body or "", "AUTH": auth}
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={timeout_s}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    # Anchored: a "+/- Stdev" column such as "87.50%" also contains "50%".
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Load(rate, p50, p99, total, non_2xx, errors)


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def one_line_sale_event(*, branch: str, seq: int, sku: str) -> dict:
    """A sale of one unit at 1.00 as a branch sends it (branches/protocol.py): the new events the in-process
    benches ingest through the real service. Needs Django set up (``central_in_process``)."""
    import uuid
    from datetime import UTC, datetime
    from decimal import Decimal

    from branches import protocol

    sale_id = uuid.uuid4()
    return protocol.envelope_build(
        id=uuid.uuid4(),
        branch=branch,
        seq=seq,
        type=protocol.EventType.SALE_COMPLETED,
        occurred_at=datetime.now(UTC),
        schema=protocol.SCHEMA_VERSION,
        payload=protocol.sale_completed_payload(
            sale_id=sale_id,
            number=seq,
            lines=[(sku, Decimal(1), Decimal(1))],
            total=Decimal(1),
            payment_method="cash",
            cashier="bench",
        ),
    )
