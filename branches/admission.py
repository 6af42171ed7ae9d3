"""Central side: admission control for the sync endpoints (docs/scale.md).

When head office comes back after an outage, hundreds of branches push their backlog at once. Without a limit every
gunicorn worker ends up inside an ingest transaction, PostgreSQL gets as many concurrent writers as there are
workers, and the dashboard waits behind them. So at most ``SYNC_ADMISSION_SLOTS`` pushes and
``SYNC_ADMISSION_PULL_SLOTS`` change-feed pulls run at once per machine. Each kind has slots of its own: every store
pulls every few seconds, a cheap request each, but in a catch-up on a busy machine they held much of the slot time the
backlog pushes were waiting for (docs/benchmarks.md, "Figures behind choices in the code").

One more waits for a slot of its kind to free up, in one of ``SYNC_ADMISSION_QUEUE`` places (shared by both kinds),
for at most ``SYNC_ADMISSION_WAIT_S``, and takes the first slot released. Refusing it at once instead made admission
a lottery: a slot busy for a few more milliseconds sent a store away for its whole backoff, while the slot it could
have had stood idle until someone else happened to arrive (docs/benchmarks.md). With every place
taken, or after the wait, the request is answered with 503, a JSON error and ``Retry-After``, which the branch
honours (branches/central_client.py) on top of its own jittered backoff.

Size the gunicorn serving the sync endpoints (in production central's sync pool, ecomarket-sync.service; managers'
pages have a pool of their own) above both kinds' slots plus the places, so a free worker answers the refused at
once instead of leaving them in the accept queue.

A slot is for the work of a sync request, never for waiting on its client: a request first shows a valid branch
credential (one indexed lookup, reused by the view; anything else is answered 401 at once, its body unread), then its
whole body arrives (within ``REQUEST_BODY_TIMEOUT_S``, else 408: ecomarket.middleware.request_body_refusal), and only
then does it take a slot or a place. Handed out first, two anonymous sockets trickling a body a byte a second held
every slot while a valid branch's push waited its time out. In production nginx buffers the whole body before the
request reaches gunicorn; the order holds without it.

A slot, and a place in the queue, is an ``flock`` on one of the files under ``DATA_DIR/admission/``: shared by every
worker process of the machine with no server to run, and released by the kernel when its holder dies, so a worker
killed mid-request never leaks one (a counter in Redis or PostgreSQL would need a lease for that). A waiting request
looks for a free slot every few milliseconds: a few system calls each time, against a wait that is over in a fraction
of a push.
"""

import fcntl
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.http import HttpResponse
from django.urls import resolve
from rest_framework import exceptions

from branches.credentials import BranchCredentialAuthentication
from ecomarket import metrics
from ecomarket.errors import json_error
from ecomarket.middleware import request_body_refusal

GUARDED_PATHS = {"/api/v1/sync/events": "push", "/api/v1/sync/changes": "pull"}
# How often a waiting request looks for a free slot: between these, at random, so waiters do not look in step.
LOOK_EVERY_S = (0.002, 0.008)


def _paths(kind: str, count: int) -> list[str]:
    folder = settings.DATA_DIR / "admission"
    folder.mkdir(parents=True, exist_ok=True)
    return [str(folder / f"{kind}-{index}.lock") for index in range(count)]


def slot_count(kind: str) -> int:
    """How many slots one kind of request, "push" or "pull", has on this machine (0: that kind is not limited)."""
    return settings.SYNC_ADMISSION_SLOTS if kind == "push" else settings.SYNC_ADMISSION_PULL_SLOTS


def slot_paths(kind: str) -> list[str]:
    """The slots of one kind of request. The pushes' keep the files all sync requests used before pulls had slots of
    their own, so workers of both versions count the same slots during a reload."""
    return _paths("slot" if kind == "push" else "pull-slot", slot_count(kind))


def place_paths() -> list[str]:
    return _paths("place", settings.SYNC_ADMISSION_QUEUE)


def _lock_any(paths: list[str]) -> int | None:
    """An open descriptor holding an exclusive flock on one of ``paths`` (the first free one, from a random start
    so busy files are not tried first by everyone), or None when all are held. Each attempt opens its own
    descriptor: flock belongs to the open file, so two threads of one process sharing a descriptor would both "get"
    the same lock. Closing the descriptor releases the lock."""
    start = random.randrange(len(paths)) if paths else 0
    for path in paths[start:] + paths[:start]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


@contextmanager
def _holding(fd: int | None) -> Iterator[bool]:
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


@contextmanager
def waiting_place() -> Iterator[bool]:
    """Hold one of the machine's places in the queue for a slot for the block; yields False when all are taken."""
    with _holding(_lock_any(place_paths())) as placed:
        yield placed


@contextmanager
def sync_slot(kind: str = "push", wait_s: float = 0.0) -> Iterator[bool]:
    """Hold one of the machine's slots for ``kind`` of sync request for the block; yields False (holding nothing)
    when none is free and, with ``wait_s``, none was released within ``wait_s`` while this request held a place in
    the queue (or there was no place to hold). The place is given up as soon as the slot is taken."""
    slots = slot_paths(kind)
    fd, waited = _lock_any(slots), None
    if fd is None and wait_s > 0:
        began = time.monotonic()
        with waiting_place() as placed:
            while placed and fd is None and time.monotonic() - began < wait_s:
                time.sleep(random.uniform(*LOOK_EVERY_S))
                fd = _lock_any(slots)
        waited = time.monotonic() - began if placed else None
    with _holding(fd) as admitted:
        if waited is not None:
            metrics.ADMISSION_WAIT.labels(kind, "admitted" if admitted else "refused").observe(waited)
        yield admitted


def retry_after_s() -> int:
    """Seconds a refused branch is told to wait: between the setting and twice it, so the refused do not all come
    back in the same second."""
    base = settings.SYNC_ADMISSION_RETRY_AFTER_S
    return random.randint(base, 2 * base)


def branch_refusal(request) -> HttpResponse | None:
    """401 unless the request carries a valid branch credential, answered as the sync views would (DRF's codes and
    ``WWW-Authenticate: Branch``); None for a branch, whose identity the view then reuses."""
    authentication = BranchCredentialAuthentication()
    try:
        if authentication.authenticate(request) is not None:
            return None
        response = json_error("not_authenticated", "Authentication credentials were not provided.", 401)
    except exceptions.AuthenticationFailed as error:
        response = json_error("authentication_failed", str(error.detail), 401)
    response["WWW-Authenticate"] = authentication.authenticate_header(request)
    return response


class SyncAdmissionMiddleware:
    """Answer 503 + ``Retry-After`` to a sync request when no sync slot of the machine is free, nor freed within
    its wait in the queue (module docstring); only a branch whose body has arrived waits for one. Only the sync
    endpoints are limited; pages, the dashboard and the staff API are never refused here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        kind = GUARDED_PATHS.get(request.path)
        if kind is None or slot_count(kind) <= 0:  # no slots of its kind: not limited
            return self.get_response(request)
        # Resolved here (Django would only do it after the middleware): what is refused here is counted under its
        # route in the request metrics, not as "unmatched".
        request.resolver_match = resolve(request.path_info)
        refusal = branch_refusal(request) or request_body_refusal(request)
        if refusal is not None:
            return refusal
        with sync_slot(kind, wait_s=settings.SYNC_ADMISSION_WAIT_S) as admitted:
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
