"""A production install as docs/operations.md describes it: a virtualenv made from requirements.txt and constraints.txt
alone, the systemd units in deploy/systemd/, the nginx sites in deploy/nginx/ (Debian's nginx, `make nginx`), the
container files, the production env examples in deploy/env/.

The virtualenv is built once per content of those two files (var/deploy-venv-<hash>/, pip's own cache makes the
first build quick) and reused while they do not change: what it holds is exactly what they install.
"""

import configparser
import hashlib
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import yaml

from harness.chain import ProcessChain
from harness.processes import ROOT, CeleryBeat, CeleryWorker, Node, WebServer, poll, port_free, stop_all

DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
TEST_TOOLS = ("pytest", "pytest_django", "hypothesis", "ruff", "schemathesis", "playwright")

pytestmark = pytest.mark.mode("central")  # one run is enough; the chain test needs PostgreSQL


def _runtime_venv() -> Path:
    files = b"".join((ROOT / name).read_bytes() for name in ("requirements.txt", "constraints.txt"))
    venv = ROOT / "var" / f"deploy-venv-{hashlib.sha256(files).hexdigest()[:12]}"
    stamp = venv / ".installed"
    if not stamp.exists():
        for stale in venv.parent.glob("deploy-venv-*"):  # made from other requirements
            shutil.rmtree(stale, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            + ["-r", ROOT / "requirements.txt", "-c", ROOT / "constraints.txt"],
            check=True,
            timeout=900,
        )
        stamp.touch()
    return venv


@pytest.fixture(scope="module")
def runtime_venv() -> Path:
    return _runtime_venv()


def test_runtime_install_holds_no_test_tool_and_is_consistent(runtime_venv):
    python = str(runtime_venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "check"], check=True, capture_output=True)
    probe = "import importlib.util, sys; print([m for m in sys.argv[1:] if importlib.util.find_spec(m)])"
    found = subprocess.run([python, "-c", probe, *TEST_TOOLS], check=True, capture_output=True, text=True).stdout
    assert found.strip() == "[]"


def test_fresh_install_runs_every_production_process(runtime_venv, tmp_path):
    """Central (gunicorn on PostgreSQL, worker and beat on Redis) and a branch (gunicorn, worker and beat on
    Redis), every process from the runtime-only virtualenv: a sale reaches central, the branch's beat makes a
    stock snapshot that its worker delivers, and central's beat has its worker reconcile."""
    chain = ProcessChain(
        tmp_path,
        branches=("B001",),
        python=str(runtime_venv / "bin" / "python"),
        central_env={"RECONCILE_INTERVAL_S": "1"},
        branch_env={"B001": {"STOCK_SNAPSHOT_INTERVAL_S": "2"}},
    )
    extra = []
    try:
        chain.prepare()
        chain.central.manage("install_schedule")
        chain.start()
        central_worker, central_beat = CeleryWorker(chain.central).start(), CeleryBeat(chain.central).start()
        extra += [central_worker, central_beat]
        assert chain.sell("B001", "FRU-BANANA", "1.500").status_code == 201
        chain.wait_converged(timeout=60)
        snapshot = "SELECT count(*) FROM branches_branchevent WHERE branch = 'B001' AND type = 'stock.snapshot'"
        poll(lambda: chain.central_sql(snapshot)[0][0], timeout=60, interval=0.5, what="a snapshot from beat")
        runs = "SELECT count(*) FROM reconciliation_reconciliationrun WHERE finished_at IS NOT NULL"
        poll(lambda: chain.central_sql(runs)[0][0], timeout=60, interval=0.5, what="a reconciliation run")
    except BaseException:
        branch_processes = [*chain.webs.values(), *chain.workers.values(), *chain.beats.values()]
        for process in [chain.central_web, *extra, *branch_processes]:
            if process is not None:
                print(f"--- {process.name} ({process.node.mode})\n{process.log()[-3000:]}")
        raise
    finally:
        stop_all(extra)
        chain.stop()


# ---------------------------------------------------------------------------------------------------------------
# systemd units
# ---------------------------------------------------------------------------------------------------------------


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)  # ExecStart= may repeat
    parser.optionxform = str
    parser.read(path)
    return parser


def _unit_values(path: Path, key: str) -> list[str]:
    """Every value of a setting a unit repeats (Environment=, ExecStart=), in order, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_systemd_units_verify(mode, runtime_venv, tmp_path):
    """systemd-analyze verify: syntax, dependencies between the units, and that every command exists in an
    install made from requirements.txt (the units' /opt/ecomarket paths mapped onto this checkout)."""
    units = sorted([*(UNITS / mode).glob("*.service"), *(UNITS / mode).glob("*.timer")])
    assert {unit.name for unit in units} == {
        "ecomarket-migrate.service",
        "ecomarket-web.service",
        "ecomarket-worker.service",
        "ecomarket-beat.service",
        *(
            ["ecomarket-sync.service", "ecomarket-backup.service", "ecomarket-backup.timer"]
            if mode == "central"
            else []
        ),
    }
    for unit in units:
        text = unit.read_text().replace("/opt/ecomarket/venv", str(runtime_venv)).replace("/opt/ecomarket", str(ROOT))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# Run to completion when started, never restarted: the migration by the installer and each upgrade, the dump by
# its timer.
ONESHOTS = ("ecomarket-migrate", "ecomarket-backup")


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_systemd_units_order_restart_and_stop_the_way_production_needs(mode):
    paths = {path.stem: path for path in (UNITS / mode).glob("*.service")}
    units = {name: _unit(path) for name, path in paths.items()}
    for name, unit in units.items():
        assert unit["Service"]["EnvironmentFile"] == "/etc/ecomarket/ecomarket.env", name
        assert "ENV_FILE=" in _unit_values(paths[name], "Environment"), name  # no stray .env fills in a gap
        assert unit["Service"]["User"] == "ecomarket", name
        assert unit["Service"]["UMask"] == "0027", name  # the database and its backups hold customers' contacts
        assert unit["Service"]["StateDirectoryMode"] == "0750", name
        assert "network-online.target" in unit["Unit"]["After"], name
        if name not in ONESHOTS:
            # A migration that failed at boot (the database not up yet) leaves nothing down: the services do not
            # require it, restart until their database answers, and systemd never stops restarting them.
            assert unit["Service"]["Restart"] == "always", name
            assert unit["Unit"]["StartLimitIntervalSec"] == "0", name
            assert "Requires" not in unit["Unit"], name
            assert "redis-server.service" in unit["Unit"]["After"], name
            assert "ecomarket-migrate.service" in unit["Unit"]["After"], name  # when started together, it goes first
            assert unit["Install"]["WantedBy"] == "multi-user.target", name
    gunicorns = ["ecomarket-web", *(["ecomarket-sync"] if mode == "central" else [])]
    for name in (*gunicorns, "ecomarket-worker"):
        assert units[name]["Service"]["KillMode"] == "mixed", name  # docs/architecture.md
        if mode == "branch":
            assert units[name]["Service"]["LimitNICE"] == "-10", name  # the SQLite writer boost
    for name in gunicorns:
        assert "python:ecomarket.gunicorn_conf" in units[name]["Service"]["ExecStart"], name
    # Run by the installer and the upgrade, never at boot: on several central machines, only where started.
    assert units["ecomarket-migrate"]["Service"]["Type"] == "oneshot"
    assert "RemainAfterExit" not in units["ecomarket-migrate"]["Service"]
    assert "Install" not in units["ecomarket-migrate"]
    if mode == "central":
        assert "install_schedule" in units["ecomarket-migrate"]["Service"]["ExecStart"]


def test_head_office_dumps_its_database_nightly_from_a_timer_the_installer_enables():
    """A oneshot that runs central_backup, started by a persistent timer (a machine off at that time dumps when it
    is back) and never at boot by itself; the installer enables the timer, not the service."""
    service = _unit(UNITS / "central" / "ecomarket-backup.service")
    timer = _unit(UNITS / "central" / "ecomarket-backup.timer")
    assert service["Service"]["Type"] == "oneshot" and "RemainAfterExit" not in service["Service"]
    assert service["Service"]["ExecStart"].endswith("manage.py central_backup")
    assert "Install" not in service
    assert "-/var/backups/ecomarket" in _unit_values(UNITS / "central" / "ecomarket-backup.service", "ReadWritePaths")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == "yes"
    assert timer["Install"]["WantedBy"] == "timers.target"
    enable = [line for line in (DEPLOY / "install-central").read_text().splitlines() if "enable --now" in line]
    assert len(enable) == 1 and "ecomarket-backup.timer" in enable[0].split()


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_systemd_units_are_sandboxed_at_most_medium_exposure(mode, tmp_path):
    """`systemd-analyze security` scores each unit's sandbox from 0 (locked down) to 10 ("UNSAFE"); 5.9 is the
    top of "MEDIUM". --threshold makes it fail above that."""
    units = sorted(str(path) for path in (UNITS / mode).glob("*.service"))
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=59", "--no-pager", *units],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    scores = re.findall(r"Overall exposure level for (\S+): ([0-9.]+)", result.stdout)
    assert len(scores) == len(units) and all(float(score) <= 5.9 for _, score in scores), result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def _env(name: str) -> dict[str, str]:
    text = (DEPLOY / "env" / f"{name}.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_the_branch_worker_may_write_its_backups_where_the_env_file_puts_them():
    """ProtectSystem=strict leaves only the state folder writable: the backup folder, on another disk by the
    docs/operations.md's advice, must be listed too, in the unit that takes the backups."""
    backups = _env("branch")["BACKUP_DIR"]
    assert not backups.startswith("/var/lib/ecomarket")
    assert f"-{backups}" in _unit_values(UNITS / "branch" / "ecomarket-worker.service", "ReadWritePaths")


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_env_files_trust_the_one_proxy_leave_preload_to_the_owner_and_have_a_metrics_token(mode):
    values = _env(mode)
    assert values["TRUSTED_PROXY_COUNT"] == "1"  # nginx on the box writes the caller as the only X-Forwarded-For
    assert values["HSTS_PRELOAD"] == "false"
    assert "METRICS_TOKEN" in values and "METRICS_ALLOW_FROM" not in values


def _gunicorn_option(unit: configparser.ConfigParser, option: str) -> str:
    return re.search(rf"{option}[ =](\S+)", unit["Service"]["ExecStart"]).group(1)


def _central_env() -> dict[str, str]:
    return dict(line.split("=", 1) for line in (DEPLOY / "env" / "central.env").read_text().splitlines() if "=" in line)


def _admitted_or_waiting() -> int:
    """How many sync requests central.env lets a machine serve or keep waiting at once: both kinds' slots and the
    queue's places."""
    central_env = _central_env()
    return sum(int(central_env[f"SYNC_ADMISSION_{name}"]) for name in ("SLOTS", "PULL_SLOTS", "QUEUE"))


def test_central_sync_pool_is_sized_above_the_admission_slots_with_metrics_of_its_own():
    """Two gunicorns on one machine (docs/scale.md, "What broke first", point 2): each on its own port, the sync pool
    with more workers than the machine's admission slots and places to wait for one (a free worker answers the refused
    at once), each with its own metric files (a pool's /metrics counts its own requests; Prometheus adds them up), the
    managers' pool first for the CPU and the Celery worker last."""
    web, sync = (_unit(UNITS / "central" / f"ecomarket-{name}.service") for name in ("web", "sync"))
    assert _gunicorn_option(web, "--bind") == "127.0.0.1:8000"
    assert _gunicorn_option(sync, "--bind") == "127.0.0.1:8002"
    central_env = _central_env()
    assert (
        0 < int(central_env["SYNC_ADMISSION_SLOTS"]) < _admitted_or_waiting() < int(_gunicorn_option(sync, "--workers"))
    )
    assert "METRICS_DIR" not in central_env  # set per pool, never for the whole machine
    assert _unit_values(UNITS / "central" / "ecomarket-sync.service", "Environment") == [
        "ENV_FILE=",
        "METRICS_DIR=/var/lib/ecomarket/metrics-sync",
    ]
    # DATA_DIR/metrics, where the Celery worker's files are too
    assert _unit_values(UNITS / "central" / "ecomarket-web.service", "Environment") == ["ENV_FILE="]
    assert int(web["Service"]["CPUWeight"]) > int(sync["Service"].get("CPUWeight", "100"))
    # Reconciliation and the roll-up yield the CPU to the pushes in a catch-up (docs/scale-runs.md, "Waiting for a
    # slot").
    worker = _unit(UNITS / "central" / "ecomarket-worker.service")
    assert int(worker["Service"]["CPUWeight"]) < int(sync["Service"].get("CPUWeight", "100"))


def test_prometheus_scrapes_both_central_pools_where_nginx_serves_their_metrics():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (central,) = [job for job in config["scrape_configs"] if job["job_name"] == "ecomarket-central"]
    paths = {
        group["labels"]["pool"]: group["labels"].get("__metrics_path__", "/metrics")
        for group in central["static_configs"]
    }
    assert paths == {"web": "/metrics", "sync": "/metrics/sync"}
    site = (DEPLOY / "nginx" / "ecomarket-central.conf").read_text()
    assert "location = /metrics/sync {" in site and "proxy_pass http://ecomarket_central_sync/metrics;" in site


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_prometheus_scrapes_each_site_over_https_with_a_token(mode):
    """What the sample config sends is what the sites let through: HTTPS, the chain's CA, a bearer token; and
    nginx passes /metrics on to gunicorn instead of refusing it itself."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [
        job for job in config["scrape_configs"] if job["job_name"] == f"ecomarket-{mode}{'es' * (mode == 'branch')}"
    ]
    assert job["scheme"] == "https" and job["tls_config"]["ca_file"] == "/etc/ssl/ecomarket/ca.crt"
    assert job["authorization"]["credentials_file"].startswith("/etc/prometheus/")
    site = (DEPLOY / "nginx" / f"ecomarket-{mode}.conf").read_text()
    block = re.search(r"location = /metrics \{([^}]*)\}", site)[1]
    assert "proxy_pass" in block and "deny" not in block


def test_the_operations_page_names_every_unit_and_site():
    page = (ROOT / "docs" / "operations.md").read_text()
    for path in [*UNITS.glob("*/*.service"), *UNITS.glob("*/*.timer"), *(DEPLOY / "nginx").glob("*.conf")]:
        assert path.stem in page, path


# ---------------------------------------------------------------------------------------------------------------
# nginx: the sites as written, run by Debian's nginx on loopback ports with a certificate made here
# ---------------------------------------------------------------------------------------------------------------

NGINX = "/usr/sbin/nginx"


class Nginx:
    """deploy/nginx/ecomarket-<mode>.conf changed only where a test machine must: its listening ports (free loopback
    ones, IPv4 only), the certificate (a self-signed one) and the upstreams' ports (production port -> test port)."""

    def __init__(self, mode: str, folder: Path, upstreams: dict[int, int]) -> None:
        self.folder = folder
        self.http_port, self.https_port = port_free(), port_free()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
            + ["-addext", "subjectAltName=IP:127.0.0.1"]
            + ["-keyout", str(folder / "site.key"), "-out", str(folder / "site.crt")],
            check=True,
            capture_output=True,
        )
        site = (DEPLOY / "nginx" / f"ecomarket-{mode}.conf").read_text()
        site = re.sub(r"\n *listen \[::\]:\d+[^;]*;", "", site)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.http_port};")
        site = site.replace("listen 443 ", f"listen 127.0.0.1:{self.https_port} ")
        site = re.sub(r"/etc/ssl/ecomarket/\w+\.(crt|key)", lambda match: str(folder / f"site.{match[1]}"), site)
        for production, test in upstreams.items():
            site = site.replace(f"server 127.0.0.1:{production};", f"server 127.0.0.1:{test};")
        (folder / "site.conf").write_text(site)
        temp = " ".join(
            f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            f"events {{}}\nhttp {{\n    access_log {folder / 'access.log'};\n    {temp}\n"
            f"    include {folder / 'site.conf'};\n}}\n"
        )
        self.argv = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
        self.popen: subprocess.Popen | None = None

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run([*self.argv, "-t"], capture_output=True, text=True)

    def start(self) -> "Nginx":
        self.popen = subprocess.Popen(self.argv, start_new_session=True)
        poll(self._listening, timeout=10, what="nginx listening")
        return self

    def _listening(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"nginx exited:\n{(self.folder / 'error.log').read_text()}")
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
            return True

    def stop(self) -> None:
        if self.popen is not None:
            self.popen.terminate()
            self.popen.wait(timeout=10)

    def get(self, path: str, **kwargs) -> requests.Response:
        session = requests.Session()
        session.trust_env = False
        return session.get(
            f"https://127.0.0.1:{self.https_port}{path}",
            verify=self.folder / "site.crt",
            allow_redirects=False,
            timeout=10,
            **kwargs,
        )


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_nginx_accepts_the_site(mode, tmp_path):
    """`nginx -t` with Debian's nginx, which docs/operations.md installs (1.22 on Debian 12)."""
    upstreams = {8001: port_free()} if mode == "branch" else {8000: port_free(), 8002: port_free()}
    result = Nginx(mode, tmp_path, upstreams).check()
    assert result.returncode == 0, result.stderr


METRICS_TOKEN = "deploy-test-metrics-token"


def _route_counts(server: WebServer) -> str:
    return requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text


def test_nginx_sends_the_branches_to_the_sync_pool_and_everything_else_to_the_managers_pool(tmp_path):
    """Central's two gunicorns as the units run them, behind the site as written: which pool answered each request
    is read from each pool's own /metrics (its own metric files), which counts what that pool served and nothing
    the other one did."""
    node = Node(
        mode="central",
        data_dir=tmp_path / "central",
        env={"METRICS_TOKEN": METRICS_TOKEN, "TRUSTED_PROXY_COUNT": "1", "CELERY_BROKER_URL": "filesystem://"},
    )
    node.manage("migrate", "--no-input", "-v", "0")
    web, sync = WebServer(node, workers=1), WebServer(node, workers=1, pool="sync")
    nginx = Nginx("central", tmp_path, {8000: web.port, 8002: sync.port})
    try:
        web.start()
        sync.start()
        nginx.start()
        assert nginx.get("/api/v1/sync/changes", params={"since": "0"}).status_code in (401, 403)
        assert nginx.get("/dashboard/").status_code == 302  # to the login page
        for path in ("/metrics", "/metrics/sync"):
            assert nginx.get(path).status_code == 401  # Django's refusal: no token
            assert nginx.get(path, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
        by_sync, by_web = _route_counts(sync), _route_counts(web)
        assert 'route="api/v1/sync/changes"' in by_sync and 'route="api/v1/sync/changes"' not in by_web
        assert 'route="dashboard/"' in by_web and 'route="dashboard/"' not in by_sync
    finally:
        nginx.stop()
        stop_all([web, sync])


# ---------------------------------------------------------------------------------------------------------------
# Container files (no Docker daemon here: they cannot be built in this test; what they name must exist)
# ---------------------------------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_dockerfile_copies_what_exists_and_runs_unprivileged():
    instructions = _dockerfile_instructions()
    copied = [shlex.split(args)[:-1] for op, args in instructions if op == "COPY"]
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), source
    copied_code = {Path(source).name for sources in copied for source in sources}
    # Every Python package the project runs is in the image.
    packages = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert packages <= copied_code
    # ...and the test and dev harness is not (production imports nothing from it: test_layout.py).
    assert "harness" not in copied_code
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "RUN" and "requirements.txt -c constraints.txt" in args for op, args in instructions)
    assert not any("requirements-test" in args for _, args in instructions)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "var" in ignored and ".env" in ignored


def _manage_commands() -> set[str]:
    return {path.stem for path in ROOT.glob("*/management/commands/*.py") if path.stem != "__init__"}


def _compose_env() -> dict[str, str]:
    text = (DEPLOY / "env" / "compose.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_compose_runs_central_from_the_image_with_postgres_and_redis():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= services.keys()
    django_commands = {"migrate", "collectstatic", "createsuperuser", "check"} | _manage_commands()
    for name in ("migrate", "web", "worker", "beat"):
        service = services[name]
        assert service["build"] == ".", name
        # The env file alone: no `environment:` to override what it says.
        assert service["env_file"] == "compose.env" and "environment" not in service, name
        command = " ".join(service.get("command", []))
        for used in re.findall(r"manage\.py (\w+)", command):
            assert used in django_commands, (name, used)
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "install_schedule" in " ".join(services["migrate"]["command"])
    assert "beat" in services["beat"]["command"] and "worker" in services["worker"]["command"]
    # The static files are the image's (collected at build time into the Dockerfile's STATIC_ROOT): the env file
    # must not point STATIC_ROOT elsewhere, where nothing collected them.
    assert "STATIC_ROOT" not in _compose_env()
    assert any(op == "RUN" and "collectstatic" in args for op, args in _dockerfile_instructions())
    # One gunicorn serves the stores and the managers here, with the env file's admission settings: a worker for
    # every slot and place, and more for the pages.
    web = services["web"]["command"]
    admitted = sum(int(_compose_env()[f"SYNC_ADMISSION_{name}"]) for name in ("SLOTS", "PULL_SLOTS", "QUEUE"))
    assert int(web[web.index("--workers") + 1]) > admitted
    assert {"compose.env", "central.env"} <= set((ROOT / ".dockerignore").read_text().split())  # secrets stay out


def _compose_config(tmp_path: Path) -> tuple[dict, dict[str, str]]:
    """compose.yaml as Debian's docker-compose reads and resolves it (validated, env_file loaded), with the env file
    where docs/operations.md's `cp` puts it, filled in as its CHANGE lines ask; and that file's values."""
    if not shutil.which("docker-compose"):
        pytest.fail("docker-compose is missing: make compose", pytrace=False)
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    password = secrets.token_hex(24)
    text = (DEPLOY / "env" / "compose.env").read_text().replace("change-me-too", password)
    text = text.replace("SECRET_KEY=change-me\n", f"SECRET_KEY={secrets.token_urlsafe(50)}\n")
    text = text.replace("METRICS_TOKEN=\n", f"METRICS_TOKEN={secrets.token_urlsafe(32)}\n")
    (tmp_path / "compose.env").write_text(text)
    result = subprocess.run(
        ["docker-compose", "--project-directory", str(tmp_path), "-f", str(tmp_path / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},  # interpolation sees nothing of this process's environment
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = text.splitlines()
    return yaml.safe_load(result.stdout), dict(line.split("=", 1) for line in lines if line and line[0] != "#")


def test_compose_config_is_valid_and_the_env_file_is_the_only_configuration(tmp_path):
    """What each EcoMarket service runs with is exactly compose.env; PostgreSQL makes the role and database its
    DATABASE_URL names, and the URLs name the project's own services."""
    config, env = _compose_config(tmp_path)
    services = config["services"]
    for name in ("migrate", "web", "worker", "beat", "postgres"):
        assert {key: str(value) for key, value in services[name]["environment"].items()} == env, name
    database = urlparse(env["DATABASE_URL"])
    assert (database.hostname, database.port, database.path) == ("postgres", 5432, f"/{env['POSTGRES_DB']}")
    assert (database.username, database.password) == (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])
    for key in ("CELERY_BROKER_URL", "CACHE_URL"):
        assert urlparse(env[key]).hostname == "redis" and "redis" in services, key
    assert env["ECOMARKET_MODE"] == "central" and env["HSTS_PRELOAD"] == "false"
    assert env["TRUSTED_PROXY_COUNT"] == "1" and "METRICS_TOKEN" in env


def _image_env() -> dict[str, str]:
    """The Dockerfile's ENV: the container's environment before compose adds the env file's."""
    values = {}
    for op, args in _dockerfile_instructions():
        if op == "ENV":
            values.update(item.split("=", 1) for item in shlex.split(args))
    return values


def test_compose_migrates_and_serves_the_images_static_files_with_the_env_file_alone(runtime_venv, tmp_path):
    """The containers as compose would make them, short of Docker (no daemon here): the runtime venv and this
    checkout stand in for the image, the Dockerfile's collectstatic line is run as the build runs it, then the migrate
    and web services' commands with the image's ENV under the resolved env file. What a test machine must change is
    changed and only that: the folders (the image's STATIC_ROOT, the volume), the database and Redis (this run's),
    the port and the web's worker count."""
    image = _image_env()
    folders = {image["STATIC_ROOT"]: str(tmp_path / "static"), image["DATA_DIR"]: str(tmp_path / "data")}
    path = f"{runtime_venv / 'bin'}:{os.environ['PATH']}"
    build = {**image, "STATIC_ROOT": folders[image["STATIC_ROOT"]], "PATH": path}
    (collect,) = [args for op, args in _dockerfile_instructions() if op == "RUN" and "collectstatic" in args]
    subprocess.run(
        ["sh", "-c", collect.replace("/tmp/collectstatic", str(tmp_path / "build"))],
        cwd=ROOT,
        env=build,
        check=True,
        timeout=300,
    )
    (tmp_path / "project").mkdir()
    config, _ = _compose_config(tmp_path / "project")
    database = f"test_compose_{uuid.uuid4().hex[:10]}"
    server = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis = os.environ["TEST_REDIS_URL"].rsplit("/", 1)[0]
    subprocess.run(["psql", server, "-qc", f'CREATE DATABASE "{database}"'], check=True, capture_output=True)
    web = None
    try:

        def container(service: str) -> tuple[list[str], dict[str, str]]:
            env = {**image, **{key: str(value) for key, value in config["services"][service]["environment"].items()}}
            env = {key: folders.get(value, value) for key, value in env.items()}  # the volume, the image's files
            env["DATABASE_URL"] = f"{server.rsplit('/', 1)[0]}/{database}"
            env["CELERY_BROKER_URL"], env["CACHE_URL"] = f"{redis}/7", f"{redis}/8"
            return config["services"][service]["command"], {**env, "PATH": path}

        command, env = container("migrate")
        migrated = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]

        command, env = container("web")
        port = port_free()
        command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
        command[command.index("--workers") + 1] = "2"
        web = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        headers = {"Host": "localhost", "X-Forwarded-Proto": "https"}  # the proxy in front, as the env file says
        poll(lambda: requests.get(f"{url}/healthz", timeout=5).status_code, timeout=60, what="the web service")
        login = requests.get(f"{url}/login/", headers=headers, timeout=5)
        assert login.status_code == 200, login.text[:500]
        linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', login.text)
        assert linked
        for asset in linked:
            answer = requests.get(f"{url}{asset}", headers=headers, timeout=5)
            assert answer.status_code == 200 and answer.content, asset
    finally:
        if web is not None:
            os.killpg(web.pid, 15)
            web.wait(timeout=30)
        subprocess.run(["psql", server, "-qc", f'DROP DATABASE "{database}" WITH (FORCE)'], capture_output=True)


# ---------------------------------------------------------------------------------------------------------------
# Production settings
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["branch", "central"])
def test_check_deploy_is_clean_with_the_production_env_example(mode, tmp_path):
    """deploy/env/<mode>.env as an operator fills it in (a real SECRET_KEY; paths this test may write)."""
    node = Node(
        mode=mode,
        data_dir=tmp_path / "data",
        env={
            "ENV_FILE": str(DEPLOY / "env" / f"{mode}.env"),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STATIC_ROOT": str(tmp_path / "static"),
        },
    )
    output = node.manage("check", "--deploy", "--fail-level", "WARNING")
    assert "System check identified no issues" in output


def _settings_from(env_file: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A server started the way an operator would: only PATH and ENV_FILE (and ``env``) in the environment."""
    script = (
        "from django.conf import settings as s; "
        "print(s.ECOMARKET_MODE, s.ALLOWED_HOSTS, repr(s.CURRENCY_SYMBOL), s.DATABASES['default']['ENGINE'], "
        "s.CELERY_BROKER_URL, s.CENTRAL_TRUST_ENV, s.SQLITE_WRITER_NICE, s.HTTPS)"
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-v", "0", "-c", script],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "ENV_FILE": str(env_file), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_env_example_copied_to_dot_env_is_read_and_refuses_the_placeholder_secret(tmp_path):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    refused = _settings_from(tmp_path / ".env", tmp_path)
    assert refused.returncode != 0
    assert "SECRET_KEY must be set" in refused.stderr

    text = (tmp_path / ".env").read_text().replace("SECRET_KEY=change-me", f"SECRET_KEY={secrets.token_urlsafe(50)}")
    (tmp_path / ".env").write_text(text)
    started = _settings_from(tmp_path / ".env", tmp_path)
    assert started.returncode == 0, started.stderr
    assert started.stdout.split("\n")[0] == (
        "branch ['127.0.0.1', 'localhost'] '$' ecomarket.sqlite filesystem:// False -10 False"
    )


def test_environment_wins_over_the_env_file(tmp_path):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    started = _settings_from(
        tmp_path / ".env",
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="till.example",
        CENTRAL_URL="https://central.example",
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.split()[1:2] == ["['till.example']"]
    assert started.stdout.split()[5] == "True"  # central off this machine: proxies from the environment apply


def test_branch_production_example_lets_tills_on_the_store_network_in():
    values = dict(
        line.split("=", 1) for line in (DEPLOY / "env" / "branch.env").read_text().splitlines() if "=" in line
    )
    hosts = values["ALLOWED_HOSTS"].split(",")
    assert any(re.fullmatch(r"(10|172|192)\.[0-9.]+", host) for host in hosts), hosts  # the box's LAN address
    assert values["CELERY_BROKER_URL"].startswith("redis://")


def test_embedded_broker_keeps_its_control_folder_under_data_dir(tmp_path):
    node = Node(mode="branch", data_dir=tmp_path / "data", env={"CELERY_BROKER_URL": "filesystem://"})
    node.manage("shell", "-c", f"from ecomarket.celery import app; app.send_task('probe-{uuid.uuid4().hex}')")
    assert list((tmp_path / "data" / "broker" / "control").glob("*.exchange"))
    assert not (ROOT / "control").exists()


def test_https_behind_a_proxy_secures_cookies_redirects_plain_http_and_sends_hsts(tmp_path):
    node = Node(
        mode="branch",
        data_dir=tmp_path / "data",
        env={"HTTPS": "true", "BEHIND_TLS_PROXY": "true", "CELERY_BROKER_URL": "filesystem://"},
    )
    node.manage("migrate", "--no-input", "-v", "0")
    server = WebServer(node, workers=1).start()  # its readiness probe is plain HTTP to /healthz: exempt
    try:
        session = requests.Session()
        session.trust_env = False
        plain = session.get(f"{server.url}/login/", allow_redirects=False, timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        proxied = session.get(f"{server.url}/login/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert proxied.status_code == 200
        assert proxied.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        cookie = proxied.headers["Set-Cookie"]
        assert "csrftoken" in cookie and "Secure" in cookie
    finally:
        server.stop()
