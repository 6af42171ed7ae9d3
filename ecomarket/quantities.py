"""How quantities and money are written, once for the whole project: stock in thousandths (a gram of a good sold by
the kilogram), money in cents rounded half up. A database sum (SQLite answers floats, PostgreSQL ``numeric`` with
any scale) goes through these before it is compared or shown.

What arrives from outside (the API, a page's form, the change feed, a branch's events) is read with
:func:`quantity_parse` and :func:`money_parse`: one strict format, so that no door reads ``"1_0"`` as ten, ``"1E+2"``
as a hundred or a fullwidth digit as a digit, as ``Decimal()`` alone would."""

import re
from decimal import ROUND_HALF_UP, Decimal

MILLI = Decimal("0.001")
CENT = Decimal("0.01")

# Both fit the database's columns (max_digits 12): 9 whole digits and 3 decimals, or 10 and 2.
QUANTITY_DIGITS = (9, 3)
MONEY_DIGITS = (10, 2)

# ASCII digits, an optional leading minus, a point and at least one decimal if any: what Python, JavaScript and
# PostgreSQL all read the same way. No exponent, sign "+", underscore, blank or bare point.
_DECIMAL = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")


def quantity(value) -> Decimal:
    """A quantity on the ledger's scale; ``None`` and ``0`` are zero."""
    return Decimal(str(value) if isinstance(value, float) else value or 0).quantize(MILLI)


def money(value) -> Decimal:
    """An amount in cents, half up."""
    return Decimal(str(value) if isinstance(value, float) else value or 0).quantize(CENT, ROUND_HALF_UP)


def quantity_text(value) -> str:
    """A quantity as the event payloads and the API carry it: a decimal string with three decimals."""
    return str(quantity(value))


def money_text(value) -> str:
    return str(money(value))


class NumberFormatError(ValueError):
    """A number that is not a decimal string in the one format; the message says what is wrong with it, ``reason``
    names it as DRF's DecimalField does (``invalid``, ``max_whole_digits``, ``max_decimal_places``), so a form can
    show DRF's own translated message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def decimal_parse(value, *, digits: tuple[int, int]) -> Decimal:
    """``value`` read as a decimal string of at most ``digits`` (whole digits, decimals), e.g. ``"-1.250"``;
    anything else (a JSON number, ``"1e3"``, ``" 1"``, ``"+1"``, ``".5"``) raises :class:`NumberFormatError`. The
    result keeps the decimals written; the sign is the caller's rule (a delta may be negative, a price not)."""
    whole, places = digits
    match = _DECIMAL.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise NumberFormatError(
            "invalid", "Enter a number written as digits with an optional '-' and '.', such as \"1.250\"."
        )
    if len(match[1]) > whole:
        raise NumberFormatError(
            "max_whole_digits", f"Ensure that there are no more than {whole} digits before the decimal point."
        )
    if len(match[2] or "") > places:
        raise NumberFormatError("max_decimal_places", f"Ensure that there are no more than {places} decimal places.")
    return Decimal(value)


def quantity_parse(value) -> Decimal:
    """A quantity as it arrives from outside (:func:`decimal_parse`), on the ledger's scale; ``"-0"`` reads as
    ``0.000``."""
    return decimal_parse(value, digits=QUANTITY_DIGITS).quantize(MILLI) + 0


def money_parse(value) -> Decimal:
    """An amount as it arrives from outside, in cents; ``"-0"`` reads as ``0.00`` (it would show as "-0.00")."""
    return decimal_parse(value, digits=MONEY_DIGITS).quantize(CENT) + 0


def quantity_check(value: Decimal) -> Decimal:
    """A quantity a caller computed or passed as a ``Decimal``, held to the limits of one read from outside (a
    service called from code must not write what no door would take); raises :class:`NumberFormatError`."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise NumberFormatError("invalid", "Enter a finite number.")
    return quantity_parse(format(value.normalize(), "f"))
