"""The demo catalog `make run` loads: real grocery products, fruit and vegetables by weight, packaged goods by
unit, with starting stock at the demo branch."""

from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from inventory.models import Product, StockLevel, Unit
from inventory.services import Line, stock_receipt_record

# The PLUs the store's scale prints on the labels of weighed goods (pricing/scale.py): 5 digits in the default format.
# README "Grocery pricing" shows a label to try: 2000102012503 is 1.250 kg of bananas (PLU 102).
PLUS = {
    "FRU-MANZANA": "101",
    "FRU-BANANA": "102",
    "FRU-NARANJA": "103",
    "FRU-LIMON": "104",
    "VER-PAPA": "201",
    "VER-TOMATE": "202",
    "VER-CEBOLLA": "203",
}

# sku, name, unit, price, barcode (EAN-13 for packaged goods; PLU codes for produce), starting stock
CATALOG = [
    ("FRU-MANZANA", "Manzana roja", Unit.KILOGRAM, "2.40", "4016", "120.000"),
    ("FRU-BANANA", "Banana", Unit.KILOGRAM, "1.80", "4011", "150.000"),
    ("FRU-NARANJA", "Naranja de jugo", Unit.KILOGRAM, "1.60", "3107", "200.000"),
    ("FRU-LIMON", "Limón", Unit.KILOGRAM, "2.10", "4958", "60.000"),
    ("VER-PAPA", "Papa blanca", Unit.KILOGRAM, "1.10", "4072", "300.000"),
    ("VER-TOMATE", "Tomate redondo", Unit.KILOGRAM, "2.90", "4664", "80.000"),
    ("VER-CEBOLLA", "Cebolla", Unit.KILOGRAM, "1.30", "4093", "150.000"),
    ("VER-LECHUGA", "Lechuga criolla", Unit.UNIT, "1.50", "4640", "40"),
    ("ALM-ARROZ-1K", "Arroz largo fino 1 kg", Unit.UNIT, "2.30", "7790070318022", "100"),
    ("ALM-FIDEOS-500", "Fideos spaghetti 500 g", Unit.UNIT, "1.45", "7790070410139", "120"),
    ("ALM-ACEITE-1L", "Aceite de girasol 1 L", Unit.UNIT, "3.95", "7790272001005", "60"),
    ("ALM-YERBA-1K", "Yerba mate 1 kg", Unit.UNIT, "6.80", "7790387013037", "50"),
    ("LAC-LECHE-1L", "Leche entera 1 L", Unit.UNIT, "1.25", "7790742023001", "200"),
    ("LAC-YOGUR-1L", "Yogur bebible frutilla 1 L", Unit.UNIT, "2.75", "7791337001286", "48"),
    ("PAN-MOLDE", "Pan de molde blanco", Unit.UNIT, "2.60", "7792200000128", "30"),
    ("BEB-AGUA-2L", "Agua mineral sin gas 2 L", Unit.UNIT, "1.05", "7798085680118", "150"),
]


@transaction.atomic
def demo_catalog_load() -> int:
    """Create or update the demo products; return how many were new. Prices are refreshed, nothing is deleted."""
    created = 0
    for sku, name, unit, price, barcode, _ in CATALOG:
        _, was_created = Product.objects.update_or_create(
            sku=sku,
            defaults={
                "name": name,
                "unit": unit,
                "price": Decimal(price),
                "barcode": barcode,
                "plu": PLUS.get(sku, ""),
            },
        )
        created += was_created
    return created


def demo_stock_receive(*, branch: str, share: Decimal = Decimal("1")) -> bool:
    """Receive the starting stock at this branch, once: a branch that already holds stock is left alone. The
    starting stock is an ordinary receipt, so head office learns of it through the outbox like any other.
    ``share`` scales it (a smaller store; goods sold by the unit stay whole), so a demo chain's shelves differ."""
    if StockLevel.objects.filter(branch=branch).exists():
        return False
    places = {Unit.KILOGRAM: Decimal("0.001"), Unit.UNIT: Decimal("1")}
    stock_receipt_record(
        receipt_id=None,
        transfer_id=None,
        lines=[
            Line(sku=sku, quantity=(Decimal(quantity) * share).quantize(places[unit], ROUND_DOWN))
            for sku, _, unit, *_, quantity in CATALOG
            if Decimal(quantity) * share >= 1
        ],
        user=None,
    )
    return True
