"""The inventory API's shapes (DESIGN.md §5): every response serializer with the bodies built directly where a till
waits for them, and the request serializers the APIs share with each other, with the staff pages (inventory/views.py)
or with another app. A request serializer one API alone reads stays nested in that API (the HackSoft styleguide's
rule)."""

from decimal import Decimal

from rest_framework import serializers

from inventory.models import Sale, SaleLine
from inventory.services import Line

MAX_LINES = 200

# The shapes of the bodies below, converted as the serializers convert them.
_QUANTITY = serializers.DecimalField(max_digits=12, decimal_places=3)
_MONEY = serializers.DecimalField(max_digits=12, decimal_places=2)
_TIME = serializers.DateTimeField()


def quantity_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=3, **kwargs)


# --------------------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------------------


class LineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=32)
    quantity = quantity_field(min_value=Decimal("0.001"))


class CountLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=32)
    counted = quantity_field(min_value=Decimal("0"))


def lines_field(child_class) -> serializers.ListSerializer:
    return child_class(many=True, allow_empty=False, max_length=MAX_LINES)


def distinct_skus(lines: list[dict]) -> list[dict]:
    skus = [line["sku"] for line in lines]
    repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
    if repeated:
        raise serializers.ValidationError(f"Each SKU may appear once; repeated: {', '.join(repeated)}.")
    return lines


def service_lines(data: list[dict], field: str = "quantity") -> list[Line]:
    """Validated lines as the services take them; ``field`` names the quantity (``counted`` in a count)."""
    return [Line(sku=line["sku"], quantity=line[field]) for line in data]


class CustomerInputSerializer(serializers.Serializer):
    """How to reach the customer of a sale that goes below zero (optional; kept only for such a sale)."""

    name = serializers.CharField(max_length=120, required=False, default="", allow_blank=True)
    phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{4,30}$", max_length=30, required=False, default="", allow_blank=True
    )
    email = serializers.EmailField(max_length=254, required=False, default="", allow_blank=True)

    def validate(self, data):
        if not (data["phone"] or data["email"]):
            raise serializers.ValidationError({"phone": ["Give a phone number or an e-mail address."]})
        return {key: value.strip() for key, value in data.items() if value.strip()}


class SaleVoidInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class ReturnCreateInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    sale_id = serializers.UUIDField()
    lines = lines_field(LineInputSerializer)
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    def validate_lines(self, lines):
        return distinct_skus(lines)


class StockReceiptInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    transfer_id = serializers.UUIDField(required=False, allow_null=True)
    lines = lines_field(LineInputSerializer)

    def validate_lines(self, lines):
        return distinct_skus(lines)


class StockCountInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    lines = lines_field(CountLineInputSerializer)

    def validate_lines(self, lines):
        return distinct_skus(lines)


# --------------------------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------------------------


class SaleLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product_id")
    quantity = quantity_field()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)


class SaleOutputSerializer(serializers.ModelSerializer):
    lines = SaleLineOutputSerializer(many=True)
    cashier = serializers.CharField(source="cashier.username", default="")

    class Meta:
        model = Sale
        fields = [
            "id",
            "branch",
            "number",
            "status",
            "payment_method",
            "lines",
            "total",
            "oversold",
            "cashier",
            "created_at",
            "voided_at",
            "void_reason",
        ]


def sale_body(sale: Sale, lines: list[SaleLine] | None = None) -> dict:
    """The sale as SaleOutputSerializer describes it, built directly: the POS waits for this answer, and a
    ModelSerializer spends more time building its fields than the sale took to write (docs/benchmarks.md).
    ``lines``: the sale's lines where the caller holds them (a sale just written); otherwise they are read."""
    return {
        "id": str(sale.id),
        "branch": sale.branch,
        "number": sale.number,
        "status": sale.status,
        "payment_method": sale.payment_method,
        "lines": [
            {
                "sku": line.product_id,
                "quantity": _QUANTITY.to_representation(line.quantity),
                "unit_price": _MONEY.to_representation(line.unit_price),
                "line_total": _MONEY.to_representation(line.line_total),
            }
            for line in (sale.lines.all() if lines is None else lines)
        ],
        "total": _MONEY.to_representation(sale.total),
        "oversold": sale.oversold,
        "cashier": sale.cashier.username if sale.cashier_id else "",
        "created_at": _TIME.to_representation(sale.created_at),
        "voided_at": _TIME.to_representation(sale.voided_at) if sale.voided_at else None,
        "void_reason": sale.void_reason,
    }


class ReturnLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product_id")
    quantity = quantity_field()


class ReturnOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sale_id = serializers.UUIDField()
    lines = ReturnLineOutputSerializer(many=True, source="lines.all")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class StockOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    barcode = serializers.CharField()
    on_hand = quantity_field()


def stock_body(product) -> dict:
    """One product's stock as StockOutputSerializer describes it, built directly: a till asks this for every item
    it scans, and the serializer took a sixth of the request (docs/profiles/branch-stock-read.txt)."""
    return {
        "sku": product.sku,
        "name": product.name,
        "unit": product.unit,
        "price": _MONEY.to_representation(product.price),
        "barcode": product.barcode,
        "on_hand": _QUANTITY.to_representation(product.on_hand),
    }


class StockDocumentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    transfer_id = serializers.UUIDField(allow_null=True)
    lines = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


# Central's on-hand: of one SKU at one branch, and of one SKU across the chain.
class InventoryRowSerializer(serializers.Serializer):
    branch = serializers.CharField()
    sku = serializers.CharField(source="product_id")
    on_hand = quantity_field()


class InventoryTotalsOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    on_hand = quantity_field()
