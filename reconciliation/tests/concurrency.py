"""Two (or three) real PostgreSQL connections for concurrency tests: a blocker that holds a lock from outside,
and workers that run a service in their own thread (so on their own Django connection) until it queues on a lock.

Interleavings are made with PostgreSQL's own lock queue, not with sleeps: a worker is known to be waiting when
``pg_stat_activity`` says so, and lock requests are granted in the order they queued.
"""

import threading

import psycopg
from django.db import connection, connections

from harness.processes import poll

TIMEOUT = 30


def _connect() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


class Blocker:
    """A connection of its own holding, in an open transaction, whatever ``sql`` locks, until ``release()``."""

    def __init__(self, sql: str, params=()) -> None:
        self.connection = _connect()
        self.connection.execute(sql, params)

    def release(self) -> None:
        if not self.connection.closed:
            self.connection.commit()
            self.connection.close()


def waiting() -> int:
    """How many backends of the test database wait on a lock right now."""
    with _connect() as observer:
        return observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]


def wait_until_waiting(count: int) -> None:
    poll(lambda: waiting() >= count, timeout=TIMEOUT, what=f"{count} connection(s) waiting on a lock")


class Worker(threading.Thread):
    """Runs ``work()`` on its own database connection; keeps its result or its exception for the test."""

    def __init__(self, work, name: str = "") -> None:
        super().__init__(name=name or getattr(work, "__name__", "worker"), daemon=True)
        self.work, self.result, self.error = work, None, None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as error:  # the test reports it
            self.error = error
        finally:
            connections.close_all()

    def outcome(self):
        self.join(TIMEOUT)
        assert not self.is_alive(), f"{self.name} did not finish"
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        return self.result
