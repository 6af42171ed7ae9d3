"""Start a push soon after a commit, without the request ever touching the broker.

``push_soon()`` only sets a flag; one daemon thread per process turns any number of flags into one publish of
``outbox_push_task``. A broker that is down or slow then delays that thread, never a sale, and the beat sweep
still finds the events if the publish is lost (DESIGN.md §2: ``delay()`` can block for a long time).
"""

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

_wake = threading.Event()
_owner_pid: int | None = None
_guard = threading.Lock()


def push_soon() -> None:
    """Ask for a push after the current transaction commits. Cheap and never blocks."""
    from django.db import transaction

    transaction.on_commit(_kick)


def _kick() -> None:
    _ensure_thread()
    _wake.set()


def _ensure_thread() -> None:
    global _owner_pid
    # gunicorn forks workers after import: each process needs its own thread.
    if _owner_pid == os.getpid():
        return
    with _guard:
        if _owner_pid != os.getpid():
            _wake.clear()
            threading.Thread(target=_publisher, name="outbox-kick", daemon=True).start()
            _owner_pid = os.getpid()


def _publisher() -> None:
    from django.conf import settings

    from branches.tasks import outbox_push_task

    while True:
        _wake.wait()
        _wake.clear()
        try:
            outbox_push_task.apply_async(retry=False, expires=60)
        except Exception as error:
            log.warning("could not publish outbox_push_task (the beat sweep will push): %s", error)
        # Pacing, not synchronisation: at most one kick per interval per process. The sales committed meanwhile
        # set the flag again and travel in the next push together, so a busy till pushes a few batches a second
        # instead of one per sale, each taking the branch's write lock and a worker's CPU.
        time.sleep(settings.SYNC_KICK_INTERVAL_S)
