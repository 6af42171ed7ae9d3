"""Numbers as a shop shows them, in the active language: money with the currency symbol and two decimals,
quantities with the decimals they need (a weighed 1,25 kg; a counted 3 units)."""

import datetime
from decimal import Decimal

from django import template
from django.conf import settings
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime

from ecomarket import quantities

register = template.Library()


@register.filter
def money(value) -> str:
    if value in (None, ""):
        return ""
    return f"{settings.CURRENCY_SYMBOL} {formats.number_format(Decimal(value), 2, force_grouping=True)}"


@register.filter
def quantity(value) -> str:
    if value in (None, ""):
        return ""
    # On the ledger's scale first: SQLite answers a sum on the stock projection as a float (290.957000000214).
    value = quantities.quantity(value)
    # As many decimals as the value needs (1,25 kg; 3 units): "1,250" would read as a thousand and a quarter.
    places = max(0, -value.normalize().as_tuple().exponent)
    return formats.number_format(value, places, force_grouping=True)


@register.filter
def local_time(value) -> str:
    """A time a payload carried as text ("2026-11-28T09:15:02-03:00", the branch's offset), or a datetime, in the
    chain's time zone as the active language writes it: a person reads the chain's local time everywhere."""
    when = parse_datetime(value) if isinstance(value, str) else value
    if when is None:
        return value or ""
    if timezone.is_naive(when):
        when = timezone.make_aware(when, datetime.UTC)
    return formats.date_format(timezone.localtime(when), "SHORT_DATETIME_FORMAT")
