"""The inventory API's shapes (docs/architecture.md): every response serializer with the bodies built directly where a
till waits for them, and the request serializers the APIs share with each other, with the staff pages
(inventory/views.py) or with another app. A request serializer one API alone reads stays nested in that API (the
HackSoft styleguide's rule)."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from branches.protocol import MARKDOWN_REASON_MAX
from cash.models import REGISTER_CODE, Register, SaleTender
from ecomarket.quantities import MONEY_DIGITS, QUANTITY_DIGITS, NumberFormatError, decimal_parse
from inventory.models import Product, Sale, SaleLine, Unit
from inventory.names import name_problem, sku_problem
from inventory.services import NO_TENDER, Line
from pricing.services import Markdown

MAX_LINES = 200
# The longest SKU and register code are the models' (a serializer that took a longer one would fail at the write).
SKU_MAX = Product._meta.get_field("sku").max_length
REGISTER_CODE_MAX = Register._meta.get_field("code").max_length


# --------------------------------------------------------------------------------------------------------------
# Fields: every quantity, amount, new SKU and product name that arrives, whichever door it comes through
# --------------------------------------------------------------------------------------------------------------


def _decimal_schema(digits: tuple[int, int]) -> dict:
    whole, places = digits
    return {"type": "string", "format": "decimal", "pattern": f"^-?[0-9]{{1,{whole}}}(\\.[0-9]{{1,{places}}})?$"}


# The person's words for ecomarket/quantities.py's "invalid": its own message stays English, as the event protocol
# and the logs carry it.
NUMBER_FORMAT = _("Enter a number written as digits with an optional '-' and '.', such as \"1.250\".")


class _DecimalTextField(serializers.DecimalField):
    """A decimal string in the one strict format of ecomarket/quantities.py (DRF's DecimalField also takes JSON
    numbers, "1_0", "1E+2", " 1" and fullwidth digits). Written out as DecimalField writes it."""

    digits: tuple[int, int]

    def __init__(self, **kwargs) -> None:
        super().__init__(max_digits=sum(self.digits), decimal_places=self.digits[1], **kwargs)

    def to_internal_value(self, data) -> Decimal:
        try:
            value = decimal_parse(data, digits=self.digits)
        except NumberFormatError as error:
            if error.reason == "invalid":  # DRF's own words ("A valid number is required") say less than these
                raise serializers.ValidationError(NUMBER_FORMAT, code="invalid") from None
            self.fail(error.reason, max_whole_digits=self.max_whole_digits, max_decimal_places=self.decimal_places)
        return self.quantize(value) + 0  # "-0" is zero


@extend_schema_field(_decimal_schema(QUANTITY_DIGITS))
class QuantityField(_DecimalTextField):
    digits = QUANTITY_DIGITS


@extend_schema_field(_decimal_schema(MONEY_DIGITS))
class MoneyField(_DecimalTextField):
    digits = MONEY_DIGITS


def quantity_field(**kwargs) -> QuantityField:
    return QuantityField(**kwargs)


class SkuField(serializers.CharField):
    """A SKU to create a product with (inventory/names.py). A SKU that names an existing product is checked against
    the catalog instead, so a product stored before the rule can still be sold and counted."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=SKU_MAX, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data) -> str:
        sku = super().to_internal_value(data)
        if problem := sku_problem(sku):
            raise serializers.ValidationError(problem, code="invalid")
        return sku


class ProductNameField(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=120, **kwargs)

    def to_internal_value(self, data) -> str:
        name = super().to_internal_value(data)
        if problem := name_problem(name):
            raise serializers.ValidationError(problem, code="invalid")
        return name


# The shapes of the bodies below, converted as the serializers convert them.
_QUANTITY = QuantityField()
_MONEY = MoneyField()
_TIME = serializers.DateTimeField()


# --------------------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------------------


def sku_reference_field(**kwargs) -> serializers.CharField:
    """A SKU that must name a product already in the catalog (the service says ``unknown_sku`` otherwise); taken as
    sent, blanks included, as the till's fast path takes it."""
    return serializers.CharField(max_length=SKU_MAX, trim_whitespace=False, **kwargs)


class LineInputSerializer(serializers.Serializer):
    sku = sku_reference_field()
    quantity = quantity_field(min_value=Decimal("0.001"))


class LabelField(serializers.CharField):
    """A scanned label, as the scanner gave it: a JSON string (a number would lose a label's leading zeros), blanks
    not trimmed (the till's fast path takes it so)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=32, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MarkdownInputSerializer(serializers.Serializer):
    """A discount at the till, on a line or the whole sale: ``percent`` off or ``amount`` off, and its ``reason``
    (a near-expiry markdown, a damaged pack). Beyond MARKDOWN_APPROVAL_PERCENT it needs a manager (the sale's
    ``approval``)."""

    percent = MoneyField(min_value=Decimal("0.01"), max_value=Decimal("100"), required=False)
    amount = MoneyField(min_value=Decimal("0.01"), required=False)
    reason = serializers.CharField(max_length=MARKDOWN_REASON_MAX)

    def validate(self, data):
        if ("percent" in data) == ("amount" in data):
            raise serializers.ValidationError({"percent": ["Give a percent or an amount, one of them."]})
        return data


def service_markdown(data: dict | None) -> Markdown | None:
    """A validated markdown as the sale service takes it."""
    if data is None:
        return None
    return Markdown(reason=data["reason"], percent=data.get("percent"), amount=data.get("amount"))


class SaleLineInputSerializer(serializers.Serializer):
    """A sale line: a SKU and a quantity (and, optionally, its ``markdown``), or a scale label alone
    (``{"barcode": ...}``), which the sale reads into its product and quantity (pricing/scale.py:
    ``invalid_barcode``, ``unknown_plu`` are the service's to say). Either may carry the ``unit_price`` the till
    showed, only in a sale the till kept while the server was away (the sale's ``queued``)."""

    sku = sku_reference_field(required=False)
    quantity = quantity_field(min_value=Decimal("0.001"), required=False)
    barcode = LabelField(required=False)
    markdown = MarkdownInputSerializer(required=False)
    unit_price = MoneyField(
        min_value=Decimal("0"),
        required=False,
        help_text="the price the till showed the customer (its kept catalog's), only in a queued sale",
    )

    def validate(self, data):
        if "barcode" in data:
            if data.keys() - {"unit_price"} != {"barcode"}:
                raise serializers.ValidationError({"barcode": ["A scale label comes alone, without sku or quantity."]})
            return data
        missing = {"sku", "quantity"} - data.keys()
        if missing:
            raise serializers.ValidationError({name: [_("This field is required.")] for name in sorted(missing)})
        return data


class CountLineInputSerializer(serializers.Serializer):
    sku = sku_reference_field()
    counted = quantity_field(min_value=Decimal("0"))


def lines_field(child_class) -> serializers.ListSerializer:
    return child_class(many=True, allow_empty=False, max_length=MAX_LINES)


def distinct_skus(lines: list[dict]) -> list[dict]:
    """Each SKU typed once (scale labels of one product may repeat: two bags of apples)."""
    skus = [line["sku"] for line in lines if "sku" in line]
    repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
    if repeated:
        raise serializers.ValidationError(f"Each SKU may appear once; repeated: {', '.join(repeated)}.")
    return lines


def service_lines(data: list[dict], field: str = "quantity") -> list[Line]:
    """Validated lines as the services take them; ``field`` names the quantity (``counted`` in a count)."""
    return [
        Line(sku="", quantity=Decimal("0"), barcode=line["barcode"], unit_price=line.get("unit_price"))
        if "barcode" in line
        else Line(
            sku=line["sku"],
            quantity=line[field],
            markdown=service_markdown(line.get("markdown")),
            unit_price=line.get("unit_price"),
        )
        for line in data
    ]


class ProductSaveInputSerializer(serializers.Serializer):
    """A product changed at head office, by the API or in admin: the fields given change."""

    name = ProductNameField(required=False)
    unit = serializers.ChoiceField(choices=Unit.choices, required=False)
    price = MoneyField(min_value=Decimal("0"), required=False)
    barcode = serializers.CharField(max_length=32, required=False, allow_blank=True)
    plu = serializers.RegexField(
        r"^[0-9]{1,8}$",
        required=False,
        allow_blank=True,
        help_text="the PLU its scale labels carry (pricing/scale.py), digits only; blank for none",
    )
    active = serializers.BooleanField(required=False)

    def validate_plu(self, plu: str) -> str:
        # As a label's digits read (pricing/scale.py): 00102 and 102 are one PLU.
        return str(int(plu)) if plu else ""


class ProductCreateInputSerializer(ProductSaveInputSerializer):
    """A new product: its SKU is checked here, once (an existing product keeps the SKU every branch knows it by)."""

    sku = SkuField()
    name = ProductNameField()
    unit = serializers.ChoiceField(choices=Unit.choices)
    price = MoneyField(min_value=Decimal("0"))


class CustomerInputSerializer(serializers.Serializer):
    """How to reach the customer of a sale that goes below zero (optional; kept only for such a sale)."""

    name = serializers.CharField(max_length=120, required=False, default="", allow_blank=True)
    phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{4,30}$",
        max_length=30,
        required=False,
        default="",
        allow_blank=True,
        error_messages={"invalid": _("Enter a phone number: digits, spaces and + ( ) . / - only.")},
    )
    email = serializers.EmailField(max_length=254, required=False, default="", allow_blank=True)

    def validate(self, data):
        if not (data["phone"] or data["email"]):
            raise serializers.ValidationError({"phone": [_("Give a phone number or an e-mail address.")]})
        return {key: value.strip() for key, value in data.items() if value.strip()}


class RegisterCodeField(serializers.RegexField):
    """A register's (till's) code, as sent: a JSON string, blanks not trimmed (the till's fast path takes it so)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(REGISTER_CODE, max_length=REGISTER_CODE_MAX, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def register_field() -> RegisterCodeField:
    """The till a sale, return or void is rung up on (cash/)."""
    return RegisterCodeField(required=False)


class SaleVoidInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    register = register_field()


class ReturnCreateInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    sale_id = serializers.UUIDField(required=False)
    # Or the sale as its receipt prints it: its number and the store that made it (this store when left out).
    sale_number = serializers.IntegerField(required=False, min_value=1)
    sale_branch = serializers.CharField(required=False, max_length=16)
    lines = lines_field(LineInputSerializer)
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    register = register_field()

    def validate_lines(self, lines):
        return distinct_skus(lines)

    def validate(self, data):
        if "sale_id" not in data and "sale_number" not in data:
            raise serializers.ValidationError({"sale_id": ["Give sale_id, or sale_number (and sale_branch)."]})
        return data


class ReceiptDifferenceInputSerializer(serializers.Serializer):
    """What of a transfer's line did not reach the shelf: ``short`` (never arrived) and ``damaged`` (arrived
    unsellable)."""

    sku = sku_reference_field()
    short = quantity_field(min_value=Decimal("0"), default=Decimal("0"))
    damaged = quantity_field(min_value=Decimal("0"), default=Decimal("0"))

    def validate(self, data):
        if not data["short"] and not data["damaged"]:
            raise serializers.ValidationError("Say what was short or damaged.")
        return data


class StockReceiptInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    transfer_id = serializers.UUIDField(required=False, allow_null=True)
    lines = lines_field(LineInputSerializer)
    differences = ReceiptDifferenceInputSerializer(many=True, required=False, default=list, max_length=MAX_LINES)

    def validate_lines(self, lines):
        return distinct_skus(lines)

    def validate(self, data):
        if data["differences"] and not data.get("transfer_id"):
            raise serializers.ValidationError({"differences": ["Only a transfer's receipt has differences."]})
        distinct_skus(data["differences"])
        return data


def receipt_differences(data: dict) -> list[tuple[str, Decimal, Decimal]]:
    """A validated receipt's differences as the service takes them."""
    return [(item["sku"], item["short"], item["damaged"]) for item in data.get("differences", [])]


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
    unit_price = MoneyField()
    line_total = MoneyField()
    gross = MoneyField(help_text="before the discount: quantity x unit price, or the scale label's price")
    discount = MoneyField()
    promotion_id = serializers.UUIDField(allow_null=True)
    barcodes = serializers.ListField(child=serializers.CharField(), help_text="the scale labels scanned")
    markdown = serializers.JSONField(allow_null=True, help_text="the line's own discount at the till, as asked")
    markdown_discount = MoneyField(help_text="the part of discount the till's markdowns took, the sale's share too")


class PaymentOutputSerializer(serializers.Serializer):
    method = serializers.CharField()
    amount = MoneyField()


class SaleOutputSerializer(serializers.ModelSerializer):
    lines = SaleLineOutputSerializer(many=True)
    cashier = serializers.CharField(source="cashier.username", default="")
    register = serializers.SerializerMethodField()
    payments = serializers.SerializerMethodField()
    change = serializers.SerializerMethodField()
    saving = serializers.SerializerMethodField(
        help_text="what promotions and markdowns took off the sale: its lines' discounts"
    )
    markdown = serializers.JSONField(allow_null=True, help_text="the sale's own discount at the till, as asked")
    markdown_approved_by = serializers.CharField(help_text="the manager who approved the markdowns, if one had to")

    @extend_schema_field(MoneyField())
    def get_saving(self, sale):
        return _MONEY.to_representation(sum((line.discount for line in sale.lines.all()), Decimal("0")))

    def get_register(self, sale) -> str:
        return _tender_fields(sale, _tender_read(sale))["register"]

    @extend_schema_field(PaymentOutputSerializer(many=True))
    def get_payments(self, sale):
        return _tender_fields(sale, _tender_read(sale))["payments"]

    @extend_schema_field(MoneyField())
    def get_change(self, sale):
        return _tender_fields(sale, _tender_read(sale))["change"]

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
            "saving",
            "markdown",
            "markdown_approved_by",
            "oversold",
            "cashier",
            "created_at",
            "voided_at",
            "void_reason",
            "register",
            "payments",
            "change",
        ]


_UNREAD = object()


def _tender_read(sale: Sale) -> SaleTender | None:
    return SaleTender.objects.filter(sale=sale).first()


def _tender_fields(sale: Sale, tender: SaleTender | None) -> dict:
    """How a sale was paid and on which till (cash.SaleTender); a sale without one was paid in full by its payment
    method."""
    if tender is None:
        payments = [{"method": sale.payment_method, "amount": _MONEY.to_representation(sale.total)}]
        return {"register": "", "payments": payments, "change": "0.00"}
    return {
        "register": tender.register,
        "payments": tender.payments,
        "change": _MONEY.to_representation(tender.change),
    }


def sale_body(sale: Sale, lines: list[SaleLine] | None = None, tender=_UNREAD) -> dict:
    """The sale as SaleOutputSerializer describes it, built directly: the POS waits for this answer, and a
    ModelSerializer spends more time building its fields than the sale took to write (docs/benchmarks.md).
    ``lines``: the sale's lines where the caller holds them (a sale just written); otherwise they are read. So is
    ``tender`` (None: the sale has none)."""
    if tender is _UNREAD or tender is NO_TENDER:
        tender = _tender_read(sale)
    lines = sale.lines.all() if lines is None else lines
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
                "gross": _MONEY.to_representation(line.line_total + line.discount),
                "discount": _MONEY.to_representation(line.discount),
                "promotion_id": str(line.promotion_id) if line.promotion_id else None,
                "barcodes": line.barcodes,
                "markdown": line.markdown,
                "markdown_discount": _MONEY.to_representation(line.markdown_discount),
            }
            for line in lines
        ],
        "total": _MONEY.to_representation(sale.total),
        "saving": _MONEY.to_representation(sum((line.discount for line in lines), Decimal("0"))),
        "markdown": sale.markdown,
        "markdown_approved_by": sale.markdown_approved_by,
        "oversold": sale.oversold,
        "cashier": sale.cashier.username if sale.cashier_id else "",
        "created_at": _TIME.to_representation(sale.created_at),
        "voided_at": _TIME.to_representation(sale.voided_at) if sale.voided_at else None,
        "void_reason": sale.void_reason,
        **_tender_fields(sale, tender),
    }


class ReturnLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product_id")
    quantity = quantity_field()


class ReturnOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sale_id = serializers.UUIDField()
    sale_branch = serializers.CharField(source="sale.branch", help_text="the store that made the sale")
    lines = ReturnLineOutputSerializer(many=True, source="lines.all")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class StockOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField()
    price = MoneyField(source="price_in_force", help_text="the price in force now (a scheduled one, if any)")
    barcode = serializers.CharField()
    plu = serializers.CharField(help_text="the PLU a scale prints on this product's labels, or blank")
    on_hand = quantity_field()


def stock_body(product) -> dict:
    """One product's stock as StockOutputSerializer describes it, built directly: a till asks this for every item
    it scans, and the serializer took a sixth of the request (docs/profiles/branch-stock-read.txt)."""
    return {
        "sku": product.sku,
        "name": product.name,
        "unit": product.unit,
        "price": _MONEY.to_representation(product.price_in_force),
        "barcode": product.barcode,
        "plu": product.plu,
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
