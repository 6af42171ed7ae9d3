"""Numbers as a shop shows them, in the active language: money with the currency symbol and two decimals,
quantities with the decimals they need (a weighed 1,25 kg; a counted 3 units)."""

from decimal import Decimal

from django import template
from django.conf import settings
from django.utils import formats

from inventory import quantities

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
