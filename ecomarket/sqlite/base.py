"""SQLite, with writers queued on a kernel file lock.

Every write transaction takes an exclusive ``flock`` on ``<database>.writer-lock`` before ``BEGIN IMMEDIATE`` and
drops it at commit or rollback. SQLite's own busy handler, left alone, makes a waiting writer *sleep* in steps of
up to 100 ms and try again, so under a queue of cashiers most of the wait is sleeping after the lock was already
free: long tails and lost throughput. A blocked ``flock`` is woken by the kernel the moment the holder releases
it, and the kernel drops it if the holder dies (SIGKILL included), so a crashed worker never leaves the branch
locked. The busy timeout stays as the safety net for the few writes made outside a transaction.

Connections are kept for the life of the process. With Django's default ``CONN_MAX_AGE`` of 0 (what settings
leave for SQLite) every request opened the database again, ran the PRAGMAs and their checks (ecomarket/db.py)
and closed it: 0.75 ms on the CI machine, a fifth of a sale's own time. A file database holds no server-side
resources, so there is nothing to give back between requests; a positive ``CONN_MAX_AGE`` is still honoured.
"""

import fcntl

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock = None
    _writer_locked = False

    def connect(self):
        super().connect()
        if not self.settings_dict["CONN_MAX_AGE"]:
            self.close_at = None  # see the module docstring: persistent unless an age is set

    def _writer_lock_acquire(self) -> None:
        if self.is_in_memory_db():
            return
        if self._writer_lock is None:
            self._writer_lock = open(f"{self.settings_dict['NAME']}.writer-lock", "a")  # noqa: SIM115 - held open
        fcntl.flock(self._writer_lock, fcntl.LOCK_EX)
        self._writer_locked = True

    def _writer_lock_release(self) -> None:
        if self._writer_locked:
            fcntl.flock(self._writer_lock, fcntl.LOCK_UN)
            self._writer_locked = False

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
