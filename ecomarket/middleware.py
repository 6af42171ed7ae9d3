import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.utils import translation

from ecomarket import logs
from ecomarket.addresses import client_address
from ecomarket.api import whole_number
from ecomarket.errors import json_error


class PrivateResponsesMiddleware:
    """``Cache-Control: no-store, private`` on every answer a view makes, unless the view chose its own: the pages,
    CSVs and API answers of a store or head office carry sales, stock and the contacts of oversold sales' customers,
    none of which a browser's disk cache or a proxy on the way should keep. Placed after whitenoise, so the static
    files keep their long cache lifetimes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" not in response:
            response["Cache-Control"] = "no-store, private"
        return response


class UnprintableInputMiddleware:
    """Refuse a path or query string carrying a NUL byte with 400: no database can store one in a text column
    (PostgreSQL refuses it outright), so it must never get as far as a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or "\x00" in request.META.get("QUERY_STRING", "")
            or "%00" in request.META.get("QUERY_STRING", "")
        ):
            return json_error("invalid", "NUL bytes are not allowed in the path or query string.", 400)
        return self.get_response(request)


class _Watch:
    __slots__ = ("deadline", "sock", "expired")

    def __init__(self, deadline: float, sock) -> None:
        self.deadline, self.sock, self.expired = deadline, sock, False


class BodyDeadlines:
    """Ends the body reads that outlast their deadline, by shutting the reading side of their socket: the blocked
    ``recv()`` returns at once, as if the client had stopped sending. A socket timeout cannot do it: it bounds each
    ``recv()``, and a client trickling a byte a second satisfies every one of them while holding the worker (and,
    before this, an admission slot) for as long as it likes.

    One thread per process looks every ``TICK_S`` while reads are being watched and sleeps when none has been
    for a tick: a request adds and removes its entry under a lock and wakes the thread only when it sleeps, so a
    busy till's sales pay no thread switch each."""

    TICK_S = 0.25

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._watched: dict[int, _Watch] = {}
        self._pid = 0
        self._asleep = False

    @contextmanager
    def watching(self, sock, seconds: float) -> Iterator[_Watch]:
        watch = _Watch(time.monotonic() + seconds, sock)
        with self._condition:
            if self._pid != os.getpid():  # a forked worker starts its own thread (the parent's is not inherited)
                self._pid = os.getpid()
                self._watched.clear()
                threading.Thread(target=self._run, name="body-deadlines", daemon=True).start()
            self._watched[id(watch)] = watch
            if self._asleep:
                self._condition.notify()
        try:
            yield watch
        finally:
            with self._condition:
                self._watched.pop(id(watch), None)

    def _run(self) -> None:
        with self._condition:
            while True:
                if not self._watched:
                    self._asleep = True
                    self._condition.wait()
                    self._asleep = False
                    continue
                now = time.monotonic()
                for key, watch in list(self._watched.items()):
                    if watch.deadline <= now:
                        del self._watched[key]
                        watch.expired = True
                        with suppress(OSError):  # the client may have gone already
                            watch.sock.shutdown(socket.SHUT_RD)
                self._condition.wait(self.TICK_S)


body_deadlines = BodyDeadlines()


def request_body_refusal(request) -> HttpResponse | None:
    """Read the body of a POST, PUT or PATCH once, before any view, and answer what is wrong with it: 413 with a
    JSON error over DATA_UPLOAD_MAX_MEMORY_SIZE, 408 when it did not arrive within REQUEST_BODY_TIMEOUT_S (under
    gunicorn, the one server that hands us its socket; 0 turns the bound off). None: the body is read (or needs no
    reading here).

    DRF reads the request stream directly, which bypasses Django's own size check, so the body is read (and
    bounded) here once; DRF then parses the cached copy. In production nginx buffers the whole body before it
    passes the request on (docs/operations.md, "Installing for real"), so the time bound is for a server reached
    directly."""
    if request.method not in ("POST", "PUT", "PATCH") or hasattr(request, "_body"):
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = whole_number(request.META.get("CONTENT_LENGTH") or "0") or 0
    if declared > limit:
        return _too_large(limit)
    if request.content_type.startswith("multipart/"):
        return None
    sock = request.META.get("gunicorn.socket") if settings.REQUEST_BODY_TIMEOUT_S > 0 else None
    watched = body_deadlines.watching(sock, settings.REQUEST_BODY_TIMEOUT_S) if sock is not None else nullcontext()
    with watched as watch:
        try:
            received = len(request.body)  # reading enforces the size limit for chunked bodies too
        except RequestDataTooBig:
            return _too_large(limit)
        except OSError:  # Django's UnreadablePostError: the client went away, or its deadline cut the read short
            if watch is None or not watch.expired:
                raise
            received = -1
    if watch is not None and watch.expired and received < declared:
        return json_error(
            "request_timeout",
            f"The request body did not arrive within {settings.REQUEST_BODY_TIMEOUT_S:g} s; nothing was done.",
            408,
        )
    return None


def _too_large(limit: int) -> HttpResponse:
    return json_error("payload_too_large", f"Request body is larger than {limit} bytes.", 413)


class BodySizeLimitMiddleware:
    """Read each request body once before any view runs, bounded in size and time (``request_body_refusal``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return request_body_refusal(request) or self.get_response(request)


class AuthFailureThrottleMiddleware:
    """Throttle failing credentials without ever locking out a valid one.

    API credentials: failures (401) are counted per (client address, credential fingerprint), so a credential that
    failed ``AUTH_FAILURE_LIMIT`` times within ``AUTH_FAILURE_WINDOW_S`` gets 429 with ``Retry-After`` until the
    window passes, while every other credential from the same address, and a valid one above all, is served as
    usual. Counting per address alone let one branch with a rotated credential behind the load balancer take the
    whole chain's sync down. A credential that failed cannot become valid later (a new one is always a fresh
    random secret), so answering it 429 without a lookup refuses no valid caller. Guessing is no threat to 160-
    and 256-bit secrets; the 429 is there so that a misconfigured client backs off instead of hammering.

    Counts live in the cache (per process with the default local-memory cache; set CACHE_URL to Redis to share
    them). Login forms are throttled by django-axes instead (see ``ecomarket.views.login_locked_out``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return self.get_response(request)
        fingerprint = hashlib.sha256(header.encode(errors="replace")).hexdigest()[:32]
        key = f"auth-failures:{client_address(request)}:{fingerprint}"
        if cache.get(key, 0) >= settings.AUTH_FAILURE_LIMIT:
            response = json_error("throttled", "This credential failed too often; try again later.", 429)
            response["Retry-After"] = str(settings.AUTH_FAILURE_WINDOW_S)
            return response
        response = self.get_response(request)
        if response.status_code == 401 and cache.add(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_S) is False:
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_S)
        return response


# When the session's user logged in, and when it was last seen using it (epoch seconds, kept in the session).
SESSION_BEGAN = "ecomarket_began_at"
SESSION_SEEN = "ecomarket_seen_at"
# What a page asks by itself, with nobody at it: the sync badge every branch page polls (static/ecomarket/sync.js).
# Answered as usual, but it does not count as use, or an open page would never be idle.
UNATTENDED_PATHS = frozenset({"/api/v1/sync/status"})


def session_lifetime_begin(sender, request, user, **kwargs) -> None:
    """Connected to ``user_logged_in``: a login starts both clocks afresh."""
    request.session[SESSION_BEGAN] = request.session[SESSION_SEEN] = int(time.time())


class SessionLifetimeMiddleware:
    """Staff sessions (the pages' login and admin's) end ``SESSION_IDLE_TIMEOUT_S`` after they were last used and
    ``SESSION_MAX_AGE_S`` after the login, whichever comes first (ASVS 3.3.2): the next request finds itself logged
    out (a page redirects to the login, the API answers 401). A till in use keeps its session until the absolute limit.

    "Last used" is written to the session at most every minute (a quarter of the idle timeout if that is shorter),
    not on every request: each write is a database write, at a branch one more writer queued for SQLite's lock
    beside the sales. So the idle timeout ends a session up to that much early. SESSION_COOKIE_AGE equals the idle
    timeout, so the stored session and its cookie lapse with it even when no request comes to find it stale."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        if SESSION_KEY in session:  # a logged-in session (API tokens have none)
            now = int(time.time())
            began = session.get(SESSION_BEGAN)
            seen = session.get(SESSION_SEEN, began)
            if began is None:  # logged in before these limits existed: they count from now
                session[SESSION_BEGAN] = session[SESSION_SEEN] = now
            elif now - began >= settings.SESSION_MAX_AGE_S or now - seen >= settings.SESSION_IDLE_TIMEOUT_S:
                logout(request)
            elif request.path not in UNATTENDED_PATHS and now - seen >= min(60, settings.SESSION_IDLE_TIMEOUT_S // 4):
                session[SESSION_SEEN] = now
        return self.get_response(request)


class ChainLanguageMiddleware:
    """Spanish unless the user chose otherwise. Unlike Django's LocaleMiddleware this ignores the browser's
    Accept-Language: a till whose operating system happens to be English still shows the chain's language. The
    choice is the language cookie that Django's ``set_language`` view writes."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.codes = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in self.codes else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class RequestContextMiddleware:
    """First in the chain: gives each request its id (the client's ``X-Request-ID`` if it is a plain token, else a
    new one) for every log line written while it runs and for the response's ``X-Request-ID``, and times it into
    the request metrics by route and status (ecomarket/metrics.py), refusals by later middleware included."""

    def __init__(self, get_response):
        from ecomarket import metrics  # here, not at import: prometheus-client must load after settings

        self.get_response = get_response
        self.observe = metrics.request_observe

    def __call__(self, request):
        request_id = logs.request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
        logs.context_begin(request_id, request)  # cleared on request_finished (ecomarket/apps.py)
        started = time.perf_counter()
        response = self.get_response(request)
        self.observe(request, response.status_code, time.perf_counter() - started)
        response["X-Request-ID"] = request_id
        return response
