"""One error type for domain failures, and one place that turns every API error into the JSON body of
docs/architecture.md, "The HTTP API": ``{"code": "...", "detail": "...", "fields": {...}}``."""

import sys

from django.core.exceptions import PermissionDenied
from django.db import DataError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ecomarket.parsers import NestedTooDeep
from ecomarket.sqlite.busy import DatabaseBusy


class DomainError(Exception):
    """A business rule refused the request. ``extra`` keys are added at the top level of the body (the contract
    puts ``sku`` and ``available`` there for ``insufficient_stock``)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int = status.HTTP_400_BAD_REQUEST,
        fields: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.fields = fields or {}
        self.extra = extra or {}

    def body(self) -> dict:
        return {"code": self.code, "detail": self.detail, "fields": self.fields, **self.extra}


# DRF exception class -> our error code, where DRF's own code is not the clearest word for a POS developer.
_CODES = {
    NestedTooDeep: "too_deeply_nested",
    exceptions.ParseError: "malformed_json",
    exceptions.ValidationError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


# What a caller is told to wait before trying again after a ``busy`` answer: the lock is usually back within a
# second or two; a client that comes back sooner only queues behind the same holder.
BUSY_RETRY_AFTER_S = 5
_BUSY_DETAIL = "The store's database is busy with another write; nothing was written. Try again shortly."


def database_busy(error: BaseException | None) -> bool:
    """Whether ``error`` means the database's write lock could not be had in time: the branch's own write lock
    (``DatabaseBusy``, after ``SQLITE_BUSY_TIMEOUT_S``) or SQLite's busy timeout on a write outside it."""
    return isinstance(error, DatabaseBusy) or (
        isinstance(error, OperationalError) and "database is locked" in str(error)
    )


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=exc.status)
    if database_busy(exc):
        return Response(
            {"code": "busy", "detail": _BUSY_DETAIL, "fields": {}},
            status=503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        )
    if isinstance(exc, DataError):
        # A value the database cannot store (a NUL byte in text, a number out of range): the transaction rolled
        # back, nothing was written, and it is the caller's input that must change.
        return Response(
            {"code": "invalid_data", "detail": f"The database cannot store this input: {exc}".strip(), "fields": {}},
            status=400,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), getattr(exc, "default_code", "error"))
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        detail = "Invalid input: " + _flatten(fields)
    else:
        fields = {}
        detail = _flatten(exc.detail)
    response.data = {"code": code, "detail": detail, "fields": fields}
    return response


def json_error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, "fields": {}}, status=status)


def not_found_view(request, exception=None):
    return json_error("not_found", f"No route {request.path} in this server's mode.", 404)


def server_error_view(request):
    """Django's handler500. A busy database outside DRF (a staff page's form, a session saved after a view) is
    not an internal error: it is 503 with ``Retry-After``, as HTML for a page and JSON for the API."""
    if database_busy(sys.exc_info()[1]):
        if request.path.startswith("/api/"):
            response = json_error("busy", _BUSY_DETAIL, 503)
        else:
            response = HttpResponse(render_to_string("503_busy.html"), status=503)
        response["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return response
    return json_error("server_error", "Internal error; nothing was half-written (the request was rolled back).", 500)
