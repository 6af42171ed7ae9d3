"""The error the branch's SQLite backend adds, in a module of its own: ecomarket/errors.py recognises it without
importing the backend (which imports ecomarket/metrics.py, which imports ecomarket/errors.py)."""

from django.db import OperationalError


class DatabaseBusy(OperationalError):
    """The write lock could not be had within ``SQLITE_BUSY_TIMEOUT_S``: nothing was written; try again later."""
