"""What every server-rendered page shares: who may open it, the number formats the page's script uses, and how a
form's values go through the API's own input serializer (a page is one more door to the same rules)."""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.utils import formats
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ecomarket.errors import DomainError
from ecomarket.roles import Role, user_has_role

# What staff read when a service refuses, by the error's code; %(name)s comes from the error body's top-level keys.
# The API keeps its English ``detail``; the pages (and the POS script) show these in the user's language.
REFUSALS = {
    "insufficient_stock": _("Not enough %(sku)s in stock: %(available)s available."),
    "unknown_sku": _("No product with that SKU or barcode."),
    "fractional_quantity": _("That product is sold by the unit: enter a whole number."),
    "return_exceeds_sale": _("Only %(returnable)s of %(sku)s can still be returned from this sale."),
    "sale_voided": _("This sale was voided."),
    "sale_has_returns": _("This sale has returns: take a return for the rest instead of voiding it."),
    "unknown_sale": _("No such sale at this branch."),
    "not_found": _("No such sale at this branch."),
    "idempotency_conflict": _("This form was already sent with other values; reload the page and try again."),
    "invalid": _("Check the values entered."),
    "busy": _("Nothing was saved. Wait a few seconds and try again."),  # the write lock's 503 (ecomarket.errors)
    # The cash drawer (cash.services)
    "no_open_session": _("Register %(register)s has no open cash session: open one with its float first."),
    "session_open": _("This register already has an open cash session."),
    "session_closed": _("This cash session is already closed."),
    "approval_required": _(
        "The count is too far from what the drawer should hold: count again, or have a manager approve the close."
    ),
    "payments_short": _("The payments do not cover the total."),
    "payments_exceed_total": _("Only cash may be more than the total: the change comes from the drawer."),
    "unknown_register": _("No such register at this store."),
    "registers_open": _("Close every register first; still open: %(registers)s."),
}


def role_required(role: Role):
    """Anonymous users go to the login page; a logged-in user without ``role`` gets 403."""

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not user_has_role(request.user, role):
                raise PermissionDenied(f"{role.value} role required")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def script_settings() -> dict:
    """What the pages' scripts need from the server: the active language's separators (so the browser formats
    numbers and money exactly as the server does) and the name of the CSRF cookie to send back."""
    return {
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
        "decimal": formats.get_format("DECIMAL_SEPARATOR"),
        "thousands": formats.get_format("THOUSAND_SEPARATOR"),
        "currency": settings.CURRENCY_SYMBOL,
        "time_zone": settings.TIME_ZONE,
        # Where a page's script sends the user whose session expired (the API then answers 401).
        "login_url": settings.LOGIN_URL,
    }


# How a refusal's value reads to a person where an app knows better than the value (a SKU reads as the product's
# name; the SKU is for the API's body), by the error body's key. Apps register theirs from AppConfig.ready().
_value_names: dict[str, Callable[[str], str]] = {}


def refusal_value_register(key: str, name: Callable[[str], str]) -> None:
    """Show a refusal's ``key`` as ``name(value)`` wherever :func:`refusal_message` writes it."""
    _value_names[key] = name


def refusal_message(error: DomainError) -> str:
    """The refusal in the user's language, with the values the error carries (quantities written its way)."""
    from ecomarket.templatetags.shop import quantity

    template = str(REFUSALS.get(error.code, ""))
    if not template:
        return error.detail
    values = {
        key: _value_names[key](value) if key in _value_names and isinstance(value, str) else _shown(value, quantity)
        for key, value in error.extra.items()
    }
    try:
        return template % values if "%(" in template else template
    except KeyError:
        return error.detail


def _shown(value, quantity):
    # A list in an error (the registers still open) reads as words, not as Python's repr.
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return quantity(value) if _is_decimal(value) else value


def _is_decimal(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


def page_context(request) -> dict:
    """Template context every page gets: which server this is, and the number formats for its scripts."""
    return {"branch_code": settings.BRANCH_CODE if settings.IS_BRANCH else "", "script_settings": script_settings()}


@dataclass
class FirstRows:
    """The first rows of a list a page shows, and how many it leaves out (a page says so; it never cuts silently)."""

    rows: list
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def first_rows(queryset: QuerySet, limit: int) -> FirstRows:
    """At most ``limit`` rows; the total is counted only when there are more (the usual case needs no count)."""
    rows = list(queryset[: limit + 1])
    if len(rows) <= limit:
        return FirstRows(rows, len(rows))
    return FirstRows(rows[:limit], queryset.count())


def redirect_back(request, fallback: str):
    """Back to the page a form came from (its ``next`` field), only if that is a page of this server: a crafted
    form must not send a manager off to another site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


# --------------------------------------------------------------------------------------------------------------
# Forms
# --------------------------------------------------------------------------------------------------------------


def form_decimal(value: str) -> str:
    """A number as typed in the user's language ("1,250" in Spanish) in the API's form ("1.250"), before the API's
    serializer judges it: the one place a page's number differs from the API's. Nothing else is forgiven (no
    thousands separator is removed: "1.250" typed in Spanish stays one and a quarter, never 1250)."""
    return formats.sanitize_separators(value.strip())


def form_valid(request, serializer_class, body: dict) -> dict | None:
    """The API's validation on a form's values; on failure, a message per problem and None."""
    serializer = serializer_class(data=body)
    if serializer.is_valid():
        return serializer.validated_data
    for problem in form_problems(serializer.errors):
        messages.error(request, problem)
    return None


def form_errors_add(form, errors: dict) -> None:
    """A serializer's errors on a Django form (admin): on the field they name, or on the form."""
    for key, value in errors.items():
        field = key if key in form.fields else None
        for problem in form_problems(value):
            form.add_error(field, problem)


def form_problems(errors, where: str = "") -> list[str]:
    """A serializer's errors as sentences a person can act on: "line 2 quantity: ..."."""
    if isinstance(errors, dict):
        return [problem for key, value in errors.items() for problem in form_problems(value, _where(where, key))]
    if isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            return [f"{where}: {item}" if where else str(item) for item in errors]
        return [problem for index, value in enumerate(errors) for problem in form_problems(value, _where(where, index))]
    return [f"{where}: {errors}" if where else str(errors)]


def _where(where: str, key) -> str:
    if isinstance(key, int):
        return f"{where} {key + 1}"
    label = {
        "lines": gettext("line"),
        "non_field_errors": "",
        "sku": "SKU",
        "quantity": gettext("quantity"),
        "counted": gettext("quantity counted"),
    }.get(key, key)
    return f"{where} {label}".strip()
