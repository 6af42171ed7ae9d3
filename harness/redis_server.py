"""A private Redis server (the machine's ``redis-server``) on a free loopback port: the broker of one test run.

Every Celery test, the process chains and the fault soak flush the Redis databases they use. On a shared server
two runs on one machine (a developer's and CI's, or two worktrees) flushed each other's queues; a server per run
cannot be shared. It keeps nothing on disk, like the machine's own.
"""

import shutil
import tempfile
from pathlib import Path

import redis

from harness.processes import LOOPBACK, Node, Process, poll, port_free

# Enough for a chain's central and its branches (harness/chain.py gives each a database from 10 up).
DATABASES = 64


class RedisServer(Process):
    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = port_free()
        folder = Path(tempfile.mkdtemp(prefix="ecomarket-redis-"))
        super().__init__(
            Node(mode="redis", data_dir=folder),
            [
                self.binary,
                "--bind", LOOPBACK,
                "--port", str(self.port),
                "--databases", str(DATABASES),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(folder),
                "--protected-mode", "yes",
            ],
            "redis",
        )  # fmt: skip

    def url(self, database: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{database}"

    def start(self) -> "RedisServer":
        super().start()
        poll(lambda: redis.Redis.from_url(self.url()).ping(), timeout=15, what="redis-server answering PING")
        return self

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        shutil.rmtree(self.node.data_dir, ignore_errors=True)
