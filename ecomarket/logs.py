"""Log lines operators can search: every line carries the request id, the mode, the branch code and the user.

The request id is an ``X-Request-ID`` the client sent (kept if it is a sane token) or one made here; it travels
in a context variable, so every line logged while a request or a Celery task runs carries it, and it goes back in
the response's ``X-Request-ID``. A branch's push sends its id to central (branches/central_client.py), so one push
can be followed from the branch's worker log to central's. ``LOG_FORMAT=json`` writes one JSON object a line
(python-json-logger); ``text`` is for a terminal (``make run``).

Nothing here reads a credential: the user is a username (or ``branch:<code>`` for a branch credential), never a
token, and the access log's format names no request header. A client that puts a secret in the query string
(``?token=...``) gets its value written as ``[redacted]``: the request line is the one place a URL is logged.
"""

import contextvars
import itertools
import logging
import os
import re
import secrets

from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_request: contextvars.ContextVar[object | None] = contextvars.ContextVar("request", default=None)

# What a client may choose as its request id: a short token, so it cannot forge log lines or bloat them.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user)s] %(message)s"


_id_source = {"pid": 0, "prefix": "", "next": None}


def request_id_new() -> str:
    """A new id: a random prefix per process and a counter, unique across processes and machines, without a
    call into the kernel's random source on every request (a uuid4 each cost more than the rest of this module)."""
    if _id_source["pid"] != os.getpid():  # a forked gunicorn or Celery worker starts its own sequence
        _id_source.update(pid=os.getpid(), prefix=secrets.token_hex(6), next=itertools.count(1).__next__)
    return f"{_id_source['prefix']}{_id_source['next']():08x}"


def request_id_accept(offered: str | None) -> str:
    """The client's ``X-Request-ID`` if it is a plain token, else a new one."""
    return offered if offered and _ACCEPTABLE_ID.fullmatch(offered) else request_id_new()


def request_id_current() -> str:
    """The id of what this thread is doing now; one is made (and kept) if there is none, e.g. a management
    command, so the calls it makes to central still carry one."""
    current = _request_id.get()
    if not current:
        current = request_id_new()
        _request_id.set(current)
    return current


def context_begin(request_id: str, request=None) -> None:
    _request_id.set(request_id)
    _request.set(request)


def context_clear(**_) -> None:
    """Connected to Django's ``request_finished``: sent when the response is closed, after Django has logged a
    4xx/5xx answer (those lines still carry the id), before the thread takes its next request."""
    _request_id.set("")
    _request.set(None)


def _user_of(request) -> str:
    """The user the request authenticated as, if that is already known. Django's lazy user is not evaluated here
    (it would cost a session query inside a log call); DRF puts the user it authenticated on the request."""
    user = getattr(request, "__dict__", {}).get("user")
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            return ""
        user = user._wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "username", ""))


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``mode``, ``branch`` and ``user`` to every record (a value the record already has,
    e.g. the access log's request id, is kept)."""

    _identity: tuple[str, str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if ContextFilter._identity is None:
            ContextFilter._identity = _identity()
        mode, branch = ContextFilter._identity
        if not getattr(record, "request_id", ""):
            record.request_id = _request_id.get()
        if not hasattr(record, "user"):
            request = _request.get()
            record.user = _user_of(request) if request is not None else ""
        record.mode = mode
        record.branch = branch
        return True


def _identity() -> tuple[str, str]:
    try:
        from django.conf import settings

        return settings.ECOMARKET_MODE.value, settings.BRANCH_CODE if settings.IS_BRANCH else ""
    except Exception:  # settings not configured (a tool importing this outside Django)
        return "", ""


# A query parameter whose name says it holds a secret (token, api_key, password, credential, signature, ...).
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;])[^=&;\s'\"]*(?:token|key|secret|passw|pwd|credential|auth|session|sig)[^=&;\s'\"]*=)"
    r"[^&;\s'\"]*"
)


def query_redacted(text: str) -> str:
    """``text`` (a query string, or a request line holding one) with the values of secret-named parameters
    replaced by ``[redacted]``; the other parameters stay, they are what an operator searches by."""
    return _SECRET_PARAMETER.sub(r"\1[redacted]", text) if "=" in text else text


class AccessLogFilter(logging.Filter):
    """gunicorn's access log record carries its atoms as ``args``: lift the useful ones into fields, the request
    id from the response header our middleware set, and redact secrets from the request line and query string
    before the message is formatted from them."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args if isinstance(record.args, dict) else {}
        for atom in ("r", "q"):  # the request line, the query string
            if atoms.get(atom):
                atoms[atom] = query_redacted(atoms[atom])
        record.request_id = atoms.get("{x-request-id}o", "") or ""
        record.method = atoms.get("m", "")
        record.path = atoms.get("U", "")
        record.status = atoms.get("s", "")
        record.duration_ms = atoms.get("M", "")
        record.remote = atoms.get("h", "")
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line with the fields above; ``timestamp`` in ISO 8601, UTC."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", JSON_FIELDS)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        # Django logs each 4xx/5xx answer with the request as an extra, whose text is the full path and its query.
        if "request" in log_record:
            log_record["request"] = query_redacted(str(log_record["request"]))


def logging_config(*, log_format: str, level: str) -> dict:
    """The ``logging.dictConfig`` for Django, Celery (which is told not to take the root logger over) and
    gunicorn's own loggers (ecomarket/gunicorn_conf.py): one handler on stderr, one format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "ecomarket.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "ecomarket.logs.JsonFormatter"},
            "text": {"format": TEXT_FORMAT},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
