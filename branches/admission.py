"""Central side: admission control for the sync endpoints (DESIGN.md §8, Scale).

When head office comes back after an outage, hundreds of branches push their backlog at once. Without a limit every
gunicorn worker ends up inside an ingest transaction, PostgreSQL gets as many concurrent writers as there are
workers, and the dashboard waits behind them. So at most ``SYNC_ADMISSION_SLOTS`` sync requests (pushes and pulls)
run at once per machine; one more is answered at once with 503, a JSON error and ``Retry-After``, which the branch
honours (branches/central_client.py) on top of its own jittered backoff. Set the slots below the ``--workers`` of
the gunicorn serving the sync endpoints (in production central's sync pool, ecomarket-sync.service; managers' pages
have a pool of their own), so a free worker answers the refused at once instead of leaving them in the accept queue.

A slot is an ``flock`` on one of ``SYNC_ADMISSION_SLOTS`` files under ``DATA_DIR/admission/``: shared by every
worker process of the machine with no server to run, and released by the kernel when its holder dies, so a worker
killed mid-request never leaks a slot (a counter in Redis or PostgreSQL would need a lease for that).
"""

import fcntl
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from ecomarket.errors import json_error

GUARDED_PATHS = ("/api/v1/sync/events", "/api/v1/sync/changes")


def _slot_paths() -> list[str]:
    folder = settings.DATA_DIR / "admission"
    folder.mkdir(parents=True, exist_ok=True)
    return [str(folder / f"slot-{index}.lock") for index in range(settings.SYNC_ADMISSION_SLOTS)]


@contextmanager
def sync_slot() -> Iterator[bool]:
    """Hold one of the machine's sync slots for the block; yields False (holding nothing) when all are taken.

    Each attempt opens its own file descriptor: flock belongs to the open file, so two threads of one process
    sharing a descriptor would both "get" the same slot."""
    paths = _slot_paths()
    start = random.randrange(len(paths))  # spread the probing so busy slots are not tried first by everyone
    for path in paths[start:] + paths[:start]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield True
        finally:
            os.close(fd)  # closing the last descriptor of the open file releases the lock
        return
    yield False


def retry_after_s() -> int:
    """Seconds a refused branch is told to wait: between the setting and twice it, so the refused do not all come
    back in the same second."""
    base = settings.SYNC_ADMISSION_RETRY_AFTER_S
    return random.randint(base, 2 * base)


class SyncAdmissionMiddleware:
    """Answer 503 + ``Retry-After`` to a sync request when the machine's sync slots are all busy (module docstring).
    Only the sync endpoints are limited; pages, the dashboard and the staff API are never refused here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SYNC_ADMISSION_SLOTS <= 0 or request.path not in GUARDED_PATHS:
            return self.get_response(request)
        with sync_slot() as admitted:
            if admitted:
                return self.get_response(request)
        response = json_error(
            "overloaded",
            "Head office is busy with other branches' sync requests; retry after the number of seconds in "
            "Retry-After. Nothing of this request was stored.",
            503,
        )
        response["Retry-After"] = str(retry_after_s())
        return response
