"""SQLite, with writers queued on a kernel file lock.

Every write transaction takes an exclusive ``flock`` on ``<database>.writer-lock`` before ``BEGIN IMMEDIATE`` and
drops it at commit or rollback. SQLite's own busy handler, left alone, makes a waiting writer *sleep* in steps of
up to 100 ms and try again, so under a queue of cashiers most of the wait is sleeping after the lock was already
free: long tails and lost throughput. A blocked ``flock`` is woken by the kernel the moment the holder releases
it, and the kernel drops it if the holder dies (SIGKILL included), so a crashed worker never leaves the branch
locked. The busy timeout stays as the safety net for the few writes made outside a transaction.

Connections are kept for the life of the process. With Django's default ``CONN_MAX_AGE`` of 0 (what settings leave for
SQLite) every request opened the database again, ran the PRAGMAs and their checks (ecomarket/db.py) and closed it, a
fifth of a sale's own time (docs/benchmarks.md, "Figures behind choices in the code"). A file database holds no
server-side resources, so there is nothing to give back between requests; a positive ``CONN_MAX_AGE`` is still honoured.

WAL checkpoints run beside the writers, not inside a sale. SQLite's automatic checkpoint runs in the COMMIT that pushes
the WAL past 1,000 pages: that one sale copies the pages back into the database and fsyncs it while it holds the write
lock, and every cashier queued behind it waits (a commit's tail many times its median). Here each process that writes
runs a passive checkpoint every ``CHECKPOINT_INTERVAL_S`` on its own connection (it never waits for readers or writers,
and durability is untouched: a commit is durable once its WAL frames are fsynced, synchronous=FULL). The automatic
checkpoint stays, at ``AUTOCHECKPOINT_PAGES``, as the safety net should the checkpointing thread fall behind.

The thread holding the write lock runs at a higher priority (``SQLITE_WRITER_NICE``, default -10) until it drops the
lock: a priority ceiling. Every till queued for the lock waits on that one thread, yet the scheduler shares the CPU
evenly between it and everything else runnable (other workers parsing requests that will only queue behind it, the load
generator), so the lock was held far longer than the CPU it used. Boosted, the holder is preempted less and the queue
moves faster (docs/benchmarks.md). Raising a priority needs CAP_SYS_NICE or a nice limit (systemd ``LimitNICE=``);
without them the boost is skipped, logged once per process, and everything else is unchanged.

A writer waits for the lock at most ``SQLITE_BUSY_TIMEOUT_S``, then gives up with ``DatabaseBusy`` (503 ``busy``
with ``Retry-After`` from the API, a retry later from a Celery task): a holder that is stopped (SIGSTOP, a frozen
VM, a debugger) never holds every till of the store for ever. ``flock`` itself cannot time out, so a blocked wait
is made by a helper thread on the caller's behalf while the caller waits on an event with a timeout; the kernel
still wakes the helper the moment the lock is released. An uncontended lock is taken at once with ``LOCK_NB`` and
no helper. A wait given up on leaves its file with the helper, which closes it (releasing the lock) as soon as the
lock comes its way, so the writers behind it are not held up.
"""

import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from queue import SimpleQueue
from urllib.parse import quote

from django.conf import settings
from django.db.backends.sqlite3 import base

from ecomarket import metrics
from ecomarket.sqlite.busy import DatabaseBusy

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 0.5
AUTOCHECKPOINT_PAGES = 10_000  # ~40 MB of WAL with 4 KiB pages

_boost_refused = False  # once refused, never asked again (processes forked later have the same rights)
_checkpointers: dict[tuple[int, str], threading.Thread] = {}
_checkpointers_guard = threading.Lock()


def _checkpointer(path: str) -> None:
    """Passive checkpoints of ``path`` for the life of the process. The connection is opened afresh each time, in
    read-write mode without create: a test database deleted and made again at the same path is followed, and a
    deleted one is never brought back as an empty file."""
    uri = f"file:{quote(path)}?mode=rw"
    while True:
        time.sleep(CHECKPOINT_INTERVAL_S)
        if not Path(path).exists():
            continue
        try:
            with sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None) as connection:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            connection.close()
        except sqlite3.Error as error:  # busy, or the file went away between the check and the open
            log.debug("checkpoint of %s skipped: %s", path, error)


def _checkpointer_ensure(path: str) -> None:
    key = (os.getpid(), path)  # gunicorn forks workers after import: each process needs its own thread
    if key in _checkpointers:
        return
    with _checkpointers_guard:
        if key not in _checkpointers:
            thread = threading.Thread(target=_checkpointer, args=(path,), name="sqlite-checkpoint", daemon=True)
            thread.start()
            _checkpointers[key] = thread


class _LockWait:
    """One blocked wait for the write lock, made on a helper thread so that its caller can give up. ``guard``
    decides the race between the lock arriving and the caller leaving: whichever comes second knows the outcome."""

    def __init__(self, file) -> None:
        self.file = file
        self.granted = threading.Event()
        self.guard = threading.Lock()
        self.abandoned = False
        self.error: OSError | None = None

    def run(self) -> None:
        with self.guard:
            if self.abandoned:
                self.file.close()
                return
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX)
        except OSError as error:
            self.error = error
        with self.guard:
            if self.abandoned:
                self.file.close()  # its only descriptor: closing it releases the lock for the next writer
                return
            self.granted.set()

    def wait(self, timeout: float) -> bool:
        if not self.granted.wait(timeout):
            with self.guard:
                if not self.granted.is_set():
                    self.abandoned = True  # the file is the helper's now
                    return False
        if self.error is not None:
            raise self.error
        return True


class _LockWaiters:
    """Daemon threads that make blocked ``flock`` calls for callers, reused when idle (handing a wait to an idle
    thread costs tens of microseconds, starting a thread hundreds). Daemons, so a helper stuck behind a stopped
    holder never keeps its process from exiting."""

    def __init__(self) -> None:
        self.jobs: SimpleQueue[_LockWait] = SimpleQueue()
        self.guard = threading.Lock()
        self.idle = 0

    def submit(self, job: _LockWait) -> None:
        with self.guard:
            spawn = self.idle == 0
            if not spawn:
                self.idle -= 1
        if spawn:
            threading.Thread(target=self._serve, name="sqlite-lock-wait", daemon=True).start()
        self.jobs.put(job)

    def _serve(self) -> None:
        while True:
            self.jobs.get().run()
            with self.guard:
                self.idle += 1


_waiters: dict[int, _LockWaiters] = {}  # per process: threads do not survive gunicorn's or Celery's fork


def _lock_wait(file, timeout: float) -> bool:
    waiters = _waiters.get(os.getpid())
    if waiters is None:
        waiters = _waiters.setdefault(os.getpid(), _LockWaiters())
    job = _LockWait(file)
    waiters.submit(job)
    return job.wait(timeout)


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock = None
    _writer_locked = False
    _writer_restore = None  # (thread id, nice to go back to) while the holder runs boosted

    def connect(self):
        super().connect()
        if not self.settings_dict["CONN_MAX_AGE"]:
            self.close_at = None  # see the module docstring: persistent unless an age is set

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            connection.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            _checkpointer_ensure(str(self.settings_dict["NAME"]))
        return connection

    def _writer_lock_acquire(self) -> None:
        if self.is_in_memory_db():
            return
        if self._writer_lock is None:
            self._writer_lock = open(f"{self.settings_dict['NAME']}.writer-lock", "a")  # noqa: SIM115 - held open
        queued = time.perf_counter()
        try:
            fcntl.flock(self._writer_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            timeout = settings.SQLITE_BUSY_TIMEOUT_S
            if not _lock_wait(self._writer_lock, timeout):
                self._writer_lock = None  # left to the helper, which closes it; the next write opens a new one
                raise DatabaseBusy(f"the write lock was busy for {timeout} s") from None
        self._writer_waited = time.perf_counter() - queued  # recorded after release, not while holding it
        self._writer_locked = True
        self._writer_boost()

    def _writer_boost(self) -> None:
        """Raise this thread's priority to ``SQLITE_WRITER_NICE`` (Linux: a thread id names one thread) and
        remember what to go back to; a refusal is logged once and the write goes on at normal priority."""
        global _boost_refused
        boosted = settings.SQLITE_WRITER_NICE
        if not boosted or _boost_refused:
            return
        thread_id = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        if boosted >= current:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, thread_id, boosted)
        except OSError as error:  # PermissionError without CAP_SYS_NICE or a nice limit
            _boost_refused = True
            log.info("the write-lock holder runs at normal priority (SQLITE_WRITER_NICE not applied: %s)", error)
            return
        self._writer_restore = (thread_id, current)

    def _writer_lock_release(self) -> None:
        if self._writer_locked:
            fcntl.flock(self._writer_lock, fcntl.LOCK_UN)
            self._writer_locked = False
            metrics.WRITE_LOCK_WAIT.observe(self._writer_waited)
        if self._writer_restore is not None:
            thread_id, nice = self._writer_restore
            self._writer_restore = None
            os.setpriority(os.PRIO_PROCESS, thread_id, nice)  # lowering one's own priority is always allowed

    def _start_transaction_under_autocommit(self):
        self._writer_lock_acquire()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._writer_lock_release()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._writer_lock_release()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._writer_lock_release()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._writer_lock_release()
            if self._writer_lock is not None:
                # Its descriptor goes with the connection; the next write of this wrapper opens the file again.
                self._writer_lock.close()
                self._writer_lock = None
