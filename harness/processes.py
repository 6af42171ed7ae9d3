"""Real EcoMarket processes on loopback, for `make run`, tests, benchmarks and the fault harness.

Each server is its own process group (gunicorn master and workers, or a Celery worker and its children), so a
SIGKILL reaches every process of it at once, the way a power cut or the OOM killer would.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def poll(check: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Call ``check`` until it returns something truthy, or fail after ``timeout`` seconds. Exceptions from
    ``check`` count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s (last error: {last_error!r})")


@dataclass
class Node:
    """One deployment's configuration: its mode, its data folder and its environment."""

    mode: str
    data_dir: Path
    env: dict = field(default_factory=dict)
    # The interpreter every process of this node runs (another virtualenv's, to test an install made from
    # requirements.txt alone: ecomarket/tests/test_deploy.py).
    python: str = sys.executable
    # The checkout its processes run from (another release's: ecomarket/tests/test_mixed_versions.py).
    root: Path = ROOT

    def environ(self) -> dict:
        base = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "PYTEST"))}
        base.update(
            {
                "ECOMARKET_MODE": self.mode,
                "DATA_DIR": str(self.data_dir),
                "SECRET_KEY": base.get("SECRET_KEY") or "test-only-secret",
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
                "ENV_FILE": "",  # a production .env in the checkout must not leak into these processes
            }
        )
        base.update(self.env)
        return base

    def manage(self, *args: str, timeout: float = 120) -> str:
        """Run a management command to completion and return its output."""
        result = subprocess.run(
            [self.python, str(self.root / "manage.py"), *args],
            cwd=self.root,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout


class Process:
    """A long-running process in its own process group, with its output in a log file."""

    def __init__(self, node: Node, argv: list[str], name: str, env: dict | None = None) -> None:
        """``env``: this process's own variables on top of its node's (e.g. one gunicorn pool's METRICS_DIR)."""
        self.node = node
        self.argv = argv
        self.name = name
        self.env = env or {}
        self.log_path = node.data_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        self.node.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.node.root,
            env={**self.node.environ(), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group and reap it."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """Ask politely (SIGTERM), then SIGKILL whatever is left."""
        if not self.running:
            self.kill()
            return
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# gthread workers keep a till's connection open between requests (sync workers close it after every answer, so
# each sale paid for a new TCP connection). One thread each: a second thread in the same process only fought the
# first for the GIL (bench quick runs, 8 connections, 4 workers: sales 475-555/s with one thread, 265-351/s with
# two; see docs/benchmarks.md). Central keeps sync workers: a gthread worker with one thread accepts connections
# until it holds worker_connections of them, so two ingesting branches could land on one worker and wait for each
# other (bench/ingest.py: 7,433 events/s against 9,727-11,179 with sync workers); its requests are few and large,
# so a new connection per request costs it nothing that matters.
WEB_THREADS = 1
WEB_KEEP_ALIVE_S = 5


class WebServer(Process):
    """gunicorn serving one node on a loopback port. ``pool``: one of several gunicorns of the same node (central's
    sync pool beside the managers' one, as deploy/systemd/central/ runs them), with its own log and metric files."""

    def __init__(
        self,
        node: Node,
        *,
        port: int | None = None,
        workers: int = 2,
        threads: int = WEB_THREADS,
        keep_alive_s: int = WEB_KEEP_ALIVE_S,
        name: str = "gunicorn",
        pool: str = "",
    ) -> None:
        self.port = port or port_free()
        argv = [
            node.python,
            "-m",
            "gunicorn",
            "ecomarket.wsgi:application",
            "--config",
            "python:ecomarket.gunicorn_conf",
            "--bind",
            f"{LOOPBACK}:{self.port}",
            "--workers",
            str(workers),
            *(
                ["--worker-class", "gthread", "--threads", str(threads), "--keep-alive", str(keep_alive_s)]
                if node.mode == "branch"
                else []
            ),
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
        ]
        env = {}
        if pool:
            name = f"{name}-{pool}"
            env["METRICS_DIR"] = str(node.data_dir / f"metrics-{pool}")
        super().__init__(node, argv, name, env=env)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30) -> "WebServer":
        super().start()
        poll(self._healthy, timeout=timeout, what=f"{self.name} on {self.url} healthy")
        return self

    def _healthy(self) -> bool:
        if not self.running:
            raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
        return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200


class CeleryWorker(Process):
    def __init__(self, node: Node, *, concurrency: int = 1, name: str = "celery-worker") -> None:
        argv = [
            node.python,
            "-m",
            "celery",
            "-A",
            "ecomarket",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h-{node.data_dir.name}",
            "--without-gossip",
            "--without-mingle",
        ]
        super().__init__(node, argv, name)


class CeleryBeat(Process):
    def __init__(self, node: Node, *, name: str = "celery-beat") -> None:
        argv = [node.python, "-m", "celery", "-A", "ecomarket", "beat", "--loglevel", "INFO"]
        super().__init__(node, argv, name)


def stop_all(processes: list[Process], timeout: float = 10) -> None:
    """SIGTERM every process at once, give them ``timeout`` seconds together to finish, then SIGKILL the rest."""
    for process in processes:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        if process.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        process.kill()


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database that no process has open (the source was checkpointed when its last user closed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
