"""Branch side: the HTTP client for head office, shared by the push, the pull and a recovery.

One :func:`central_session` per run (the branch's credential, its CA bundle and proxy settings, instrumented), one
:func:`central_call` per request, which turns every answer but a 200 into :class:`CentralUnavailable` (back off and
try again) or :class:`CentralRefused` (the request can never succeed as sent). :func:`sync_lock` and
:func:`credential_and_lock` keep to one push (one pull) at a time per branch. Every call here is made outside any
database transaction: nothing on a request path calls central.
"""

import fcntl
from contextlib import contextmanager

import requests
from django.conf import settings

from branches.backoff import retry_after_parse
from ecomarket import metrics
from ecomarket.version import VERSION, VERSION_HEADER

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 20
# Central asks a branch to come back later with these (branches/admission.py answers 503; a proxy may answer 429).
RETRY_LATER_STATUSES = (429, 503)


class CentralUnavailable(Exception):
    """Central could not be reached or did not answer 200. ``status``: its HTTP status when it answered at all;
    ``retry_after``: the seconds it asked this branch to wait (its Retry-After header on a 429/503), 0 when it did
    not ask."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class CentralRefused(CentralUnavailable):
    """This request can never succeed as sent: its body is too large (413, from central or a proxy in front of it)
    or central found an event in it malformed (400 ``invalid_event``). Sending it again unchanged would be refused
    for ever, so the push splits it instead of backing off. Any other 4xx is not the events' fault (a credential,
    a throttle, a body central cannot read at all) and backs off like an outage."""


def _refused(response: requests.Response) -> bool:
    if response.status_code == 413:
        return True
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == "invalid_event"


def central_session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Branch {settings.BRANCH_CREDENTIAL}"
    session.headers["User-Agent"] = f"ecomarket-branch/{settings.BRANCH_CODE}"
    # On every push and pull: head office keeps which release each store runs while a chain upgrades store by store.
    session.headers[VERSION_HEADER] = VERSION
    # HTTPS_PROXY / NO_PROXY / REQUESTS_CA_BUNDLE from the environment: a store behind a corporate proxy (off for a
    # central on this machine, so a proxy meant for the internet never sees a loopback call).
    session.trust_env = settings.CENTRAL_TRUST_ENV
    if settings.CENTRAL_CA_BUNDLE:
        session.verify = settings.CENTRAL_CA_BUNDLE  # head office's certificate signed by the chain's private CA
    return metrics.link_session_instrument(session)  # counts, times, sends the request id


def central_call(session: requests.Session, method: str, path: str, **kwargs) -> dict:
    """One request to central; its JSON answer, or CentralUnavailable / CentralRefused."""
    try:
        response = session.request(
            method, f"{settings.CENTRAL_URL.rstrip('/')}{path}", timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kwargs
        )
    except requests.RequestException as error:
        raise CentralUnavailable(f"{error.__class__.__name__}: {error}") from error
    if _refused(response):
        raise CentralRefused(f"HTTP {response.status_code}: {response.text[:300]}", status=response.status_code)
    if response.status_code != 200:
        retry_after = (
            retry_after_parse(response.headers.get("Retry-After"))
            if response.status_code in RETRY_LATER_STATUSES
            else 0.0
        )
        raise CentralUnavailable(
            f"HTTP {response.status_code}: {response.text[:300]}", status=response.status_code, retry_after=retry_after
        )
    try:
        return response.json()
    except ValueError as error:
        raise CentralUnavailable(f"answer is not JSON: {response.text[:200]}") from error


@contextmanager
def sync_lock(name: str):
    """One push (or pull) at a time per branch, across every worker process. The kernel drops an flock when its
    process dies, so a worker killed mid-push never leaves the branch locked out. Yields whether it was taken."""
    path = settings.DATA_DIR / f"{name}.lock"
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def credential_and_lock(name: str, summary):
    """What a push and a pull both need before they start: a credential, and no other push (pull) running.
    Yields whether this one may go; if not, ``summary.skipped`` says why."""
    if not settings.BRANCH_CREDENTIAL:
        summary.skipped = "no BRANCH_CREDENTIAL configured"
        yield False
        return
    with sync_lock(name) as acquired:
        if not acquired:
            summary.skipped = f"another {name} is running"
        yield acquired
