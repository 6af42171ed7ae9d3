"""The documented install, run as written: head office's block, then a store's, read from docs/operations.md (so
the page the README sends an operator to cannot drift from what is tested), on this machine as far as it goes
without systemd as PID 1.

The installers put everything under a scratch root (ECOMARKET_ROOT) and leave systemctl and the machine's nginx
alone; the service user is ``nobody`` (no user is added to this machine). Then each service is started from its
installed unit's own ExecStart, User, Group, UMask, WorkingDirectory, EnvironmentFile and Environment lines, and
Debian's nginx serves the installed sites with the certificates deploy/chain-ca made. What a test machine must
change is changed in the installed files and said here: the ports (free loopback ones, IPv4 only), the Redis (this
run's own, through the installers' --set), the names (localhost), CSRF_TRUSTED_ORIGINS (an origin with that port).
Then, in Debian's Chromium (Playwright), which trusts the test CA through an NSS database of its own (the way a till's
browser is given the chain's ca.crt; no certificate error is ignored), a cashier logs in at the store's /pos/ through
nginx over HTTPS on a new till, picks its register, opens the drawer and sells; the manager logs in at head office
through its nginx and sees that sale on the dashboard; and Debian's Prometheus scrapes both through the shipped
prometheus.yml, with the token files the installer wrote.
"""

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from ecomarket.tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, MILK, SCREENSHOTS, scan, screenshot
from harness.processes import ROOT, poll, port_free

pytestmark = [pytest.mark.mode("central"), pytest.mark.processes, pytest.mark.browser]

POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SERVICE_USER = "nobody"  # exists on every Debian machine; the installer makes `ecomarket` in production


def documented_block(heading: str) -> list[str]:
    """The commands of the first ```sh block after ``heading``, continuation lines joined."""
    text = (ROOT / "docs" / "operations.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index(heading) :], re.DOTALL)[1]
    return [line for line in re.sub(r"\\\n\s*", "", block).splitlines() if line.strip()]


def machine_steps(block: list[str]) -> list[str]:
    """What the installers can do here: apt-get and the clone are the machine's, done already (the checkout is
    copied into the scratch root instead)."""
    return [line for line in block if not line.startswith(("apt-get ", "git clone "))]


def _unit(path: Path) -> dict[str, list[str]]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith(("#", ";")))


class Box:
    """One machine: a scratch root with a copy of the checkout at opt/ecomarket, as `git clone` would leave it."""

    def __init__(self, base: Path, name: str) -> None:
        self.root = base / name
        self.app = self.root / "opt" / "ecomarket"
        self.app.mkdir(parents=True)
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for name_ in filter(None, files):
            source = ROOT / name_.decode()
            if source.is_file():
                target = self.app / name_.decode()
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def run(self, command: str, env: dict) -> str:
        result = subprocess.run(
            ["sh", "-c", command],
            cwd=self.app,
            env={"PATH": os.environ["PATH"], "ECOMARKET_ROOT": str(self.root), "ECOMARKET_USER": SERVICE_USER, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    @property
    def manage(self) -> str:
        return str(self.root / "usr" / "local" / "bin" / "ecomarket-manage")

    def unit_path(self, name: str) -> Path:
        return self.root / "etc" / "systemd" / "system" / f"{name}.service"

    def replace(self, path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new))

    def start_unit(self, name: str) -> None:
        """The unit as systemd would run it, short of the sandbox (no systemd here)."""
        unit = _unit(self.unit_path(name))
        environment = {"PATH": "/usr/bin:/bin"}
        for env_file in unit["EnvironmentFile"]:
            environment.update(_env_file(Path(env_file)))
        for assignment in unit.get("Environment", []):
            key, value = assignment.split("=", 1)
            environment[key] = value
        (exec_start,) = unit["ExecStart"]
        argv = shlex.split(exec_start.replace("%H", socket.gethostname()))
        log = self.root / f"{name}.log"
        self.logs.append(log)
        with open(log, "wb") as output:
            self.processes.append(
                subprocess.Popen(
                    argv,
                    cwd=unit["WorkingDirectory"][0],
                    env=environment,
                    user=unit["User"][0],
                    group=unit["Group"][0],
                    extra_groups=[],
                    umask=int(unit["UMask"][0], 8),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def nginx(self, ports: dict[str, int]) -> None:
        """Debian's nginx with the installed site, on this machine's free ports instead of 80 and 443."""
        site = self.root / "etc" / "nginx" / "sites-available" / "ecomarket"
        text = re.sub(r"\n *listen \[::\]:\d+[^;]*;", "", site.read_text())
        text = text.replace("listen 80;", f"listen 127.0.0.1:{ports['http']};")
        text = text.replace("listen 443 ", f"listen 127.0.0.1:{ports['https']} ")
        for production, test in ports.items():
            if isinstance(production, int):
                text = text.replace(f"server 127.0.0.1:{production};", f"server 127.0.0.1:{test};")
        site.write_text(text)
        folder = self.root / "nginx"
        folder.mkdir()
        temp = " ".join(
            f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        enabled = self.root / "etc" / "nginx" / "sites-enabled"
        (folder / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            f"events {{}}\nhttp {{\n    access_log {folder / 'access.log'};\n    {temp}\n    include {enabled}/*;\n}}\n"
        )
        argv = ["/usr/sbin/nginx", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
        subprocess.run([*argv, "-t"], check=True, capture_output=True)
        self.logs.append(folder / "error.log")
        self.processes.append(subprocess.Popen(argv, start_new_session=True))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()

    def print_logs(self) -> None:
        for log in self.logs:
            if log.exists():
                print(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}")


def _printed(output: str, label: str) -> str:
    return re.search(rf"{label}:? (\S+)$", output, re.MULTILINE)[1]


def _psql(sql: str) -> None:
    subprocess.run(["psql", POSTGRES, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def _trusting(ca: Path, home: Path) -> dict[str, str]:
    """A HOME whose NSS database (where Chromium on Linux keeps the certificates its user trusts) holds the CA."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    for argv in (["-N", "--empty-password"], ["-A", "-n", "ecomarket-test-ca", "-t", "C,,", "-i", str(ca)]):
        subprocess.run(["certutil", "-d", f"sql:{nssdb}", *argv], check=True, capture_output=True)
    return {"HOME": str(home), "PATH": os.environ["PATH"]}


def _log_in(browser: Browser, url: str, path: str, username: str, password: str) -> Page:
    """A person with a browser of their own at ``url + path``: sent to the login form, typing, sent back."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{url}{path}")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}{path}")
    return page


def _cashier_sells_at_a_new_till(page: Page) -> None:
    """The till asks once which register it is; the drawer is opened with its float; a milk scanned and sold."""
    dialog = page.locator("#register-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("T1 · Caja 1").check()
    page.locator("#register-use").click()
    page.locator("#opening-float").fill("50")
    page.locator("#opening-float").press("Enter")
    expect(page.locator("#till-session")).to_contain_text("fondo $ 50,00")
    page.locator("#pos-search").focus()
    scan(page, MILK)
    expect(page.locator('#basket input[data-sku="LAC-LECHE-1L"]')).to_have_value("1")
    page.keyboard.press("F9")
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-total")).to_have_text("$ 1,25")
    screenshot(page, "install-branch-pos-receipt")


def _manager_sees_the_sale_on_the_dashboard(page: Page) -> None:
    """Today's tiles come from the roll-ups beat folds every REPORTS_ROLLUP_INTERVAL_S: reloaded until they hold
    the sale (a deadline, not a wait)."""

    def the_sale_is_on_it() -> bool:
        page.reload()
        return page.locator("#kpi-tickets .tile-value").inner_text() == "1"

    poll(the_sale_is_on_it, timeout=120, interval=2, what="the sale on head office's dashboard")
    expect(page.locator("#kpi-sales .tile-value")).to_have_text("$ 1,25")
    expect(page.locator("#health-B002")).to_contain_text("Sucursal Norte")
    screenshot(page, "install-central-dashboard")


@pytest.fixture
def scratch():
    # Not pytest's tmp_path: its folders are 0700 root, and the services run as another user.
    base = Path(tempfile.mkdtemp(prefix="ecomarket-install-", dir="/tmp"))
    base.chmod(0o755)
    database = f"ecomarket_install_{uuid.uuid4().hex[:10]}"
    yield base, database
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _psql(f'DROP ROLE IF EXISTS "{database}"')
    shutil.rmtree(base, ignore_errors=True)


def test_the_documented_install_gives_a_chain_where_a_cashier_sells_and_head_office_sees_it(scratch):
    base, database = scratch
    redis = os.environ["TEST_REDIS_URL"].rsplit("/", 1)[0]
    ports = {
        "central": {"http": port_free(), "https": port_free(), 8000: port_free(), 8002: port_free()},
        "branch": {"http": port_free(), "https": port_free(), 8001: port_free()},
    }
    central_url = f"https://localhost:{ports['central']['https']}"
    branch_url = f"https://localhost:{ports['branch']['https']}"
    ca_folder = base / "ca"
    names = {
        "/root/ecomarket-ca": str(ca_folder),
        "/root/": f"{ca_folder}/",
        "https://central.ecomarket.example": central_url,
        "central.ecomarket.example": "localhost",
        "b002.tiendas.ecomarket.example": "localhost",
        "192.168.10.5": "127.0.0.1",
        "ecomarket-manage ": None,  # the installed wrapper, per box
    }

    def as_here(line: str, box: Box, **printed: str) -> str:
        for production, here in {**names, "ecomarket-manage ": f"{box.manage} ", **printed}.items():
            line = line.replace(production, here)
        if line.startswith("deploy/install-"):
            at_central = line.startswith("deploy/install-central")
            origin = central_url if at_central else branch_url
            line += f" --set CELERY_BROKER_URL={redis}/{3 if at_central else 5}"
            line += f" --set CACHE_URL={redis}/{4 if at_central else 6} --set CSRF_TRUSTED_ORIGINS={origin}"
        return line

    central, branch = Box(base, "central"), Box(base, "branch")
    (central.root / "etc" / "prometheus").mkdir(parents=True)  # Prometheus runs at head office: its token files
    installer_env = {"ECOMARKET_DB_NAME": database, "ECOMARKET_PSQL": f"psql {POSTGRES}"}
    try:
        output = ""
        for line in machine_steps(documented_block("### Head office (central)")):
            output += central.run(as_here(line, central), installer_env)
        admin_password = _printed(output, "password")
        credential = _printed(output, "credential")
        stores_token = _printed(output, r"metrics token for every store \(install-branch --metrics-token\)")
        central.run(f"{central.manage} load_demo_catalog", {})

        output = ""
        printed = {"<printed by register_branch>": credential, "<printed by install-central>": stores_token}
        for line in machine_steps(documented_block("### A store's box (branch)")):
            output += branch.run(as_here(line, branch, **printed), {})
        cashier_password = _printed(output, "password")
        branch.run(f"{branch.manage} load_demo_catalog", {})

        for box, role in ((central, "central"), (branch, "branch")):
            for production, test in ports[role].items():
                if isinstance(production, int):
                    for unit in box.unit_path("x").parent.glob("*.service"):
                        if f"127.0.0.1:{production} " in unit.read_text():
                            box.replace(unit, f"127.0.0.1:{production} ", f"127.0.0.1:{test} ")
        for name in ("web", "sync", "worker", "beat"):
            central.start_unit(f"ecomarket-{name}")
        for name in ("web", "worker", "beat"):
            branch.start_unit(f"ecomarket-{name}")
        central.nginx(ports["central"])
        branch.nginx(ports["branch"])
        ca = ca_folder / "ca.crt"
        for url in (central_url, branch_url):
            poll(lambda url=url: requests.get(f"{url}/healthz", verify=ca, timeout=5).ok, timeout=60, what=url)

        with sync_playwright() as playwright:
            if not shutil.which(CHROMIUM):
                pytest.fail(f"{CHROMIUM} is missing: make chromium", pytrace=False)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            # A browser that does not trust the CA is refused: the one below reaches the boxes because it does.
            stranger = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
                stranger.new_page().goto(f"{branch_url}/login/")
            stranger.close()
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS, env=_trusting(ca, base / "browser-home")
            )
            till = _log_in(browser, branch_url, "/pos/", "caja1", cashier_password)
            _cashier_sells_at_a_new_till(till)
            office = _log_in(browser, central_url, "/dashboard/", "admin", admin_password)
            _manager_sees_the_sale_on_the_dashboard(office)
            browser.close()

        _prometheus_scrapes_both(base, central, ca, ports)
    except BaseException:
        central.print_logs()
        branch.print_logs()
        raise
    finally:
        branch.stop()
        central.stop()


def _prometheus_scrapes_both(base: Path, central: Box, ca: Path, ports: dict) -> None:
    """Debian's Prometheus with the shipped prometheus.yml: only its targets point here, the CA and the token files
    where the installer (and chain-ca) put them in the scratch root."""
    text = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    text = text.replace("/etc/ssl/ecomarket/ca.crt", str(ca))
    text = text.replace("/etc/prometheus/", f"{central.root}/etc/prometheus/")
    text = text.replace("central.ecomarket.example:443", f"localhost:{ports['central']['https']}")
    text = re.sub(r"\[[^\]]*tiendas[^\]]*\]", f'["localhost:{ports["branch"]["https"]}"]', text)
    config = yaml.safe_load(text)
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / "alerts.yml")]
    folder = base / "prometheus"
    folder.mkdir()
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = port_free()
    process = subprocess.Popen(
        ["/usr/bin/prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}"]
        + [f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "prometheus.log", "wb"),  # noqa: SIM115 (closed with the process)
        start_new_session=True,
    )

    def all_up() -> bool:
        targets = requests.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return len(targets) == 3 and all(target["health"] == "up" for target in targets)

    try:
        poll(all_up, timeout=60, interval=1, what="Prometheus scraping both boxes")
        query = requests.get(
            f"http://127.0.0.1:{port}/api/v1/query", params={"query": "count by (job) (up == 1)"}, timeout=5
        ).json()
        assert {row["metric"]["job"] for row in query["data"]["result"]} == {"ecomarket-central", "ecomarket-branches"}
    except BaseException:
        print((folder / "prometheus.log").read_text()[-3000:])
        targets = requests.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).text
        print(targets[-3000:])
        raise
    finally:
        process.terminate()
        process.wait(timeout=20)
