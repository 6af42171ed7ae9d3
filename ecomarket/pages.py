"""What every server-rendered page shares: who may open it, and the number formats the page's script uses."""

import functools
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.utils import formats
from django.utils.http import url_has_allowed_host_and_scheme
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
    }


def refusal_message(error: DomainError) -> str:
    """The refusal in the user's language, with the values the error carries (quantities written its way)."""
    from ecomarket.templatetags.shop import quantity

    template = str(REFUSALS.get(error.code, ""))
    if not template:
        return error.detail
    values = {key: quantity(value) if _is_decimal(value) else value for key, value in error.extra.items()}
    if isinstance(values.get("sku"), str):
        from inventory.models import Product

        # A person reads the product's name; the SKU is for the API's body.
        values["sku"] = Product.objects.filter(pk=values["sku"]).values_list("name", flat=True).first() or values["sku"]
    try:
        return template % values if "%(" in template else template
    except KeyError:
        return error.detail


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
