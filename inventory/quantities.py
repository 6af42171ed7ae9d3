"""How quantities and money are written, once for the whole project: stock in thousandths (a gram of a good sold by
the kilogram), money in cents rounded half up. A database sum (SQLite answers floats, PostgreSQL ``numeric`` with
any scale) goes through these before it is compared or shown."""

from decimal import ROUND_HALF_UP, Decimal

MILLI = Decimal("0.001")
CENT = Decimal("0.01")


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
