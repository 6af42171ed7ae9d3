from decimal import Decimal

from inventory.models import Product, Unit
from inventory.services import Line, stock_receipt_record


def product_make(*, sku: str = "FRU-BANANA", unit: str = Unit.KILOGRAM, price: str = "1.80", **fields) -> Product:
    fields.setdefault("name", sku.title())
    return Product.objects.create(sku=sku, unit=unit, price=Decimal(price), **fields)


def stock_receive(**quantities: str) -> None:
    """Receive stock at this branch: ``stock_receive(**{"FRU-BANANA": "10"})``."""
    stock_receipt_record(
        receipt_id=None,
        transfer_id=None,
        lines=[Line(sku=sku, quantity=Decimal(q)) for sku, q in quantities.items()],
        user=None,
    )
