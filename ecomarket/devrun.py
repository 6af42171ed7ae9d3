"""`make run`: head office on 127.0.0.1:8000 and branch B001 on 127.0.0.1:8001, each under gunicorn with its Celery
worker and beat, on the embedded defaults (SQLite, kombu's filesystem broker under var/).

Everything it makes lives under var/ and is reused by the next run: the secret key, the databases, the users and
their tokens. Ctrl-C stops every process it started.
"""

import re
import secrets
import signal
import sys
import time

from ecomarket.chain import token_from
from ecomarket.processes import ROOT, CeleryBeat, CeleryWorker, Node, Process, WebServer, stop_all

VAR = ROOT / "var"
CENTRAL_PORT, BRANCH_PORT = 8000, 8001
BRANCH = "B001"


def _saved(name: str, make) -> str:
    """A value kept under var/ so a second run reuses it (tokens stay valid, passwords stay the same)."""
    path = VAR / "run" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _staff(node: Node, saved_as: str, user: str, password: str | None, *options: str) -> str:
    """Make sure the staff user exists with this role and password; return its API token, kept under var/ (only
    its hash is in the database, so the first run's copy is the one every later run prints)."""
    node.manage("create_staff", user, *options, *(("--password", password) if password else ()))
    return _saved(saved_as, lambda: token_from(node.manage("create_staff", user, *options, "--rotate-token")))


def _check_port(port: int) -> None:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"make run: port {port} on 127.0.0.1 is already in use; stop whatever holds it and run again.")


def prepare() -> tuple[Node, Node, dict]:
    secret = _saved("secret_key", lambda: secrets.token_urlsafe(50))
    common = {
        "SECRET_KEY": secret,
        "STATIC_ROOT": str(VAR / "staticfiles"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_FORMAT": "text",  # for a terminal; production's default is json
        "METRICS_ALLOW_FROM": "127.0.0.1,::1",  # a local Prometheus or curl reads /metrics without a token
    }
    central = Node(mode="central", data_dir=VAR / "central", env=dict(common))
    branch = Node(
        mode="branch",
        data_dir=VAR / f"branch-{BRANCH}",
        env={**common, "BRANCH_CODE": BRANCH, "CENTRAL_URL": f"http://127.0.0.1:{CENTRAL_PORT}"},
    )
    logins = {
        "central": ("admin", _saved("central_admin_password", lambda: secrets.token_urlsafe(12))),
        "branch": ("gerente", _saved("branch_manager_password", lambda: secrets.token_urlsafe(12))),
        "till": ("caja1", _saved("branch_cashier_password", lambda: secrets.token_urlsafe(12))),
    }

    print("make run: preparing head office (var/central) ...", flush=True)
    central.manage("migrate", "--no-input", "-v", "0")
    central.manage("collectstatic", "--no-input", "-v", "0")
    central.manage("load_demo_catalog")
    central.manage("install_schedule")  # reconciliation every RECONCILE_INTERVAL_S, editable in admin
    central_token = _staff(central, "central_api_token", *logins["central"], "--role", "manager", "--superuser")

    # The branch's credential is shown once by central; keep it under var/ for the next run.
    branch.env["BRANCH_CREDENTIAL"] = _saved(
        "branch_credential",
        lambda: re.search(
            r"credential: (\S+)", central.manage("register_branch", BRANCH, "--name", "Sucursal Centro")
        ).group(1),
    )

    print(f"make run: preparing branch {BRANCH} (var/branch-{BRANCH}) ...", flush=True)
    branch.manage("migrate", "--no-input", "-v", "0")
    branch.manage("load_demo_catalog")
    pos_token = _staff(branch, "pos_api_token", *logins["till"], "--role", "cashier")
    _staff(branch, "branch_manager_api_token", *logins["branch"], "--role", "manager", "--superuser")
    return central, branch, {"pos": pos_token, "central": central_token, "logins": logins}


def main() -> None:
    _check_port(CENTRAL_PORT)
    _check_port(BRANCH_PORT)
    central, branch, made = prepare()
    processes: list[Process] = []

    def stop(*_):
        print("\nmake run: stopping ...", flush=True)
        stop_all(processes)
        print("make run: stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for node, port in ((central, CENTRAL_PORT), (branch, BRANCH_PORT)):
        processes.append(WebServer(node, port=port, workers=2).start())
        processes.append(CeleryWorker(node).start())
        processes.append(CeleryBeat(node).start())

    print(
        f"Central:  http://127.0.0.1:{CENTRAL_PORT}/dashboard/   admin: /admin/   API docs: /api/docs/",
    )
    print(
        f"Branch {BRANCH}: http://127.0.0.1:{BRANCH_PORT}/pos/   staff: /stock/ /stock/receive/ /stock/count/ /sales/"
    )
    print(
        f"          admin: http://127.0.0.1:{BRANCH_PORT}/admin/   API docs: http://127.0.0.1:{BRANCH_PORT}/api/docs/"
    )
    print(
        f"Metrics (loopback, no token): http://127.0.0.1:{CENTRAL_PORT}/metrics  http://127.0.0.1:{BRANCH_PORT}/metrics"
        "   readiness: /readyz"
    )
    print(f"POS API token: {made['pos']}")
    print(f"Central API token: {made['central']}")
    for where, (user, password) in made["logins"].items():
        print(f"Web login ({where}): {user} / {password}")
    print(f"Logs: {central.data_dir}/*.log and {branch.data_dir}/*.log. Ctrl-C stops everything.", flush=True)

    while True:
        for process in processes:
            if not process.running:
                print(f"make run: {process.name} of {process.node.mode} exited; see {process.log_path}", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
