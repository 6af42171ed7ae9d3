"""`make run`: head office on 127.0.0.1:8000 and a chain of two branches, B001 on 127.0.0.1:8001 and B002 on
127.0.0.1:8002 (a smaller store, with half the stock, whose policy lets it sell below zero), each under gunicorn
with its Celery worker and beat, on the embedded defaults (SQLite, kombu's filesystem broker under var/).

Everything it makes lives under var/ and is reused by the next run: the secret key, the databases, the users and
their tokens. Ctrl-C stops every process it started.
"""

import re
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field

from harness.chain import token_from
from harness.processes import ROOT, CeleryBeat, CeleryWorker, Node, Process, WebServer, stop_all

VAR = ROOT / "var"
CENTRAL_PORT = 8000


@dataclass(frozen=True)
class DemoBranch:
    code: str
    name: str
    port: int
    stock_share: str
    env: dict = field(default_factory=dict)

    @property
    def kept_suffix(self) -> str:
        """Suffix of what is kept under var/run/ for this branch (B001 keeps the names earlier runs used)."""
        return "" if self.code == "B001" else f"_{self.code}"


BRANCHES = [
    DemoBranch("B001", "Sucursal Centro", 8001, "1"),
    # Sells below zero when its shelf is empty, so the till asks for the customer's contact.
    DemoBranch("B002", "Sucursal Norte", 8002, "0.5", {"BRANCH_ALLOW_NEGATIVE_STOCK": "true"}),
]


def _kept(name: str, make) -> str:
    """A value kept in var/run/ so a second run reuses it (tokens stay valid, passwords stay the same)."""
    path = VAR / "run" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def web_password() -> str:
    """A web login's password: 16 random URL-safe characters, which AUTH_PASSWORD_VALIDATORS accept."""
    return secrets.token_urlsafe(12)


def _staff(node: Node, kept_as: str, user: str, password: str | None, *options: str) -> str:
    """Make sure the staff user exists with this role and password; return its API token, kept under var/ (only
    its hash is in the database, so the first run's copy is the one every later run prints)."""
    node.manage("create_staff", user, *options, *(("--password", password) if password else ()))
    return _kept(kept_as, lambda: token_from(node.manage("create_staff", user, *options, "--rotate-token")))


def _check_port(port: int) -> None:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"make run: port {port} on 127.0.0.1 is already in use; stop whatever holds it and run again.")


def prepare() -> tuple[Node, dict[str, Node], dict]:
    secret = _kept("secret_key", lambda: secrets.token_urlsafe(50))
    common = {
        "SECRET_KEY": secret,
        "STATIC_ROOT": str(VAR / "staticfiles"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_FORMAT": "text",  # for a terminal; production's default is json
        "METRICS_ALLOW_FROM": "127.0.0.1,::1",  # a local Prometheus or curl reads /metrics without a token
    }
    central = Node(mode="central", data_dir=VAR / "central", env=dict(common))
    logins = {
        "central": ("admin", _kept("central_admin_password", web_password)),
        "branch": ("gerente", _kept("branch_manager_password", web_password)),
        "till": ("caja1", _kept("branch_cashier_password", web_password)),
    }

    print("make run: preparing head office (var/central) ...", flush=True)
    central.manage("migrate", "--no-input", "-v", "0")
    central.manage("collectstatic", "--no-input", "-v", "0")
    central.manage("load_demo_catalog")
    central.manage("install_schedule")  # reconciliation every RECONCILE_INTERVAL_S, editable in admin
    central_token = _staff(central, "central_api_token", *logins["central"], "--role", "manager", "--superuser")

    nodes, pos_tokens = {}, {}
    for branch in BRANCHES:
        node = Node(
            mode="branch",
            data_dir=VAR / f"branch-{branch.code}",
            env={
                **common,
                **branch.env,
                "BRANCH_CODE": branch.code,
                "CENTRAL_URL": f"http://127.0.0.1:{CENTRAL_PORT}",
            },
        )
        # The branch's credential is shown once by central; keep it under var/ for the next run.
        node.env["BRANCH_CREDENTIAL"] = _kept(
            f"branch_credential{branch.kept_suffix}",
            lambda branch=branch: re.search(
                r"credential: (\S+)", central.manage("register_branch", branch.code, "--name", branch.name)
            ).group(1),
        )
        print(f"make run: preparing branch {branch.code} (var/branch-{branch.code}) ...", flush=True)
        node.manage("migrate", "--no-input", "-v", "0")
        node.manage("load_demo_catalog", "--stock-share", branch.stock_share)
        pos_tokens[branch.code] = _staff(
            node, f"pos_api_token{branch.kept_suffix}", *logins["till"], "--role", "cashier"
        )
        _staff(
            node, f"branch_manager_api_token{branch.kept_suffix}", *logins["branch"], "--role", "manager", "--superuser"
        )
        nodes[branch.code] = node
    return central, nodes, {"pos": pos_tokens, "central": central_token, "logins": logins}


def main() -> None:
    for port in (CENTRAL_PORT, *(branch.port for branch in BRANCHES)):
        _check_port(port)
    central, nodes, made = prepare()
    processes: list[Process] = []

    def stop(*_):
        print("\nmake run: stopping ...", flush=True)
        stop_all(processes)
        print("make run: stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for node, port in ((central, CENTRAL_PORT), *((nodes[b.code], b.port) for b in BRANCHES)):
        processes.append(WebServer(node, port=port, workers=2).start())
        processes.append(CeleryWorker(node).start())
        processes.append(CeleryBeat(node).start())

    print(
        f"Central:  http://127.0.0.1:{CENTRAL_PORT}/dashboard/   reports: /reports/   admin: /admin/   "
        "API docs: /api/docs/"
    )
    for branch in BRANCHES:
        url = f"http://127.0.0.1:{branch.port}"
        below_zero = (
            "   (sells below zero: asks for the customer's contact)"
            if branch.env.get("BRANCH_ALLOW_NEGATIVE_STOCK")
            else ""
        )
        print(f"Branch {branch.code}: {url}/pos/   staff: /stock/ /stock/receive/ /stock/count/ /sales/{below_zero}")
        print(f"          admin: {url}/admin/   API docs: {url}/api/docs/")
    print(f"POS API token: {made['pos']['B001']}")
    for code, token in made["pos"].items():
        if code != "B001":
            print(f"POS API token ({code}): {token}")
    print(
        f"Metrics (loopback, no token): http://127.0.0.1:{CENTRAL_PORT}/metrics and each branch's /metrics"
        "   readiness: /readyz"
    )
    print(f"Central API token: {made['central']}")
    for where, (user, password) in made["logins"].items():
        print(f"Web login ({where}): {user} / {password}")
    logs = " ".join(f"{node.data_dir}/*.log" for node in (central, *nodes.values()))
    print(f"Logs: {logs}. Ctrl-C stops everything.", flush=True)

    while True:
        for process in processes:
            if not process.running:
                print(f"make run: {process.name} of {process.node.mode} exited; see {process.log_path}", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
