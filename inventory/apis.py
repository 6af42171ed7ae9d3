"""The branch POS API and central's stock reads (DESIGN.md §5). Views validate, call one service, serialise."""

import re
import uuid
from decimal import Decimal

from django.conf import settings
from django.db.models import prefetch_related_objects
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomarket.api import ERRORS, cursor_page, input_valid
from ecomarket.errors import DomainError
from ecomarket.roles import IsCashier, IsManager
from inventory import selectors, services
from inventory.models import PaymentMethod, Sale

MAX_LINES = 200


def _quantity_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=3, **kwargs)


class LineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=32)
    quantity = _quantity_field(min_value=Decimal("0.001"))


class CountLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=32)
    counted = _quantity_field(min_value=Decimal("0"))


def _lines_field(child_class) -> serializers.ListSerializer:
    return child_class(many=True, allow_empty=False, max_length=MAX_LINES)


def distinct_skus(lines: list[dict]) -> list[dict]:
    skus = [line["sku"] for line in lines]
    repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
    if repeated:
        raise serializers.ValidationError(f"Each SKU may appear once; repeated: {', '.join(repeated)}.")
    return lines


def _lines(data: list[dict], field: str = "quantity") -> list[services.Line]:
    return [services.Line(sku=line["sku"], quantity=line[field]) for line in data]


class SaleLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product_id")
    quantity = _quantity_field()
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


class StockOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    barcode = serializers.CharField()
    on_hand = _quantity_field()


class ReturnLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product_id")
    quantity = _quantity_field()


class ReturnOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sale_id = serializers.UUIDField()
    lines = ReturnLineOutputSerializer(many=True, source="lines.all")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


_QUANTITY = serializers.DecimalField(max_digits=12, decimal_places=3)
_MONEY = serializers.DecimalField(max_digits=12, decimal_places=2)
_TIME = serializers.DateTimeField()


def sale_body(sale: Sale) -> dict:
    """The sale as SaleOutputSerializer describes it, built directly: the POS waits for this answer, and a
    ModelSerializer spends more time building its fields than the sale took to write (docs/benchmarks.md)."""
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
            for line in sale.lines.all()
        ],
        "total": _MONEY.to_representation(sale.total),
        "oversold": sale.oversold,
        "cashier": sale.cashier.username if sale.cashier_id else "",
        "created_at": _TIME.to_representation(sale.created_at),
        "voided_at": _TIME.to_representation(sale.voided_at) if sale.voided_at else None,
        "void_reason": sale.void_reason,
    }


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


def _sale_response(sale: Sale, created: bool) -> Response:
    prefetch_related_objects([sale], "lines")
    return Response(sale_body(sale), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --------------------------------------------------------------------------------------------------------------
# Branch: sales
# --------------------------------------------------------------------------------------------------------------


# A quantity as a till sends it: at most 9 whole digits and 3 decimals (max_digits 12, decimal_places 3).
_PLAIN_QUANTITY = re.compile(r"[0-9]{1,9}(\.[0-9]{1,3})?")
_SALE_KEYS = {"id", "lines", "payment_method"}
_LINE_KEYS = {"sku", "quantity"}


def sale_input_plain(data) -> dict | None:
    """The validated data ``SaleCreateInputSerializer`` would give for the plain, well-formed body every till
    sends, or None for anything else, which the serializer then judges and words the errors for. DRF's nested
    serializers took a tenth of a sale's time (docs/profiles/branch-sale.txt); a test checks both agree."""
    if not isinstance(data, dict) or not data.keys() <= _SALE_KEYS:
        return None
    lines = data.get("lines")
    if not isinstance(lines, list) or not 0 < len(lines) <= MAX_LINES:
        return None
    valid = []
    for line in lines:
        if not isinstance(line, dict) or line.keys() != _LINE_KEYS:
            return None
        sku, quantity = line["sku"], line["quantity"]
        if not (isinstance(sku, str) and 0 < len(sku) <= 32 and sku.isascii() and sku.isprintable()):
            return None
        if sku != sku.strip() or not isinstance(quantity, str) or not _PLAIN_QUANTITY.fullmatch(quantity):
            return None
        quantity = Decimal(quantity).quantize(services.MILLI)
        if not quantity:
            return None
        valid.append({"sku": sku, "quantity": quantity})
    if len({line["sku"] for line in valid}) != len(valid):
        return None
    result = {"lines": valid, "payment_method": data.get("payment_method", PaymentMethod.CASH)}
    if result["payment_method"] not in PaymentMethod.values:
        return None
    if "id" in data:
        if not isinstance(data["id"], str):
            return None
        try:
            result["id"] = uuid.UUID(data["id"])
        except ValueError:
            return None
    return result


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


class SaleCreateApi(APIView):
    permission_classes = [IsCashier]

    class SaleCreateInputSerializer(serializers.Serializer):
        id = serializers.UUIDField(required=False)
        lines = _lines_field(LineInputSerializer)
        payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CASH)
        customer = CustomerInputSerializer(required=False, allow_null=True)

        def validate_lines(self, lines):
            return distinct_skus(lines)

    @extend_schema(
        operation_id="sale_create",
        request=SaleCreateInputSerializer,
        responses={201: SaleOutputSerializer, 200: SaleOutputSerializer, **ERRORS},
        description="Record a sale. The same id again returns the stored sale with 200; with another body, 409. "
        "`customer` (a phone or an e-mail, and a name) is kept only if the sale goes below zero, for head office "
        "to reach the customer.",
    )
    def post(self, request):
        data = sale_input_plain(request.data) or input_valid(self.SaleCreateInputSerializer, request)
        sale, created = services.sale_create(
            sale_id=data.get("id"),
            lines=_lines(data["lines"]),
            payment_method=data["payment_method"],
            cashier=request.user,
            customer=data.get("customer"),
        )
        return _sale_response(sale, created)


class SaleDetailApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(operation_id="sale_get", responses={200: SaleOutputSerializer, **ERRORS})
    def get(self, request, sale_id):
        sale = selectors.sale_get(branch=settings.BRANCH_CODE, sale_id=_uuid(sale_id))
        if sale is None:
            raise DomainError("not_found", f"No sale {sale_id} at this branch.", status=status.HTTP_404_NOT_FOUND)
        return Response(sale_body(sale))


class SaleVoidApi(APIView):
    permission_classes = [IsManager]

    class SaleVoidInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    @extend_schema(
        operation_id="sale_void",
        request=SaleVoidInputSerializer,
        responses={200: SaleOutputSerializer, **ERRORS},
        description="Void a whole sale (manager). Voiding it again changes nothing.",
    )
    def post(self, request, sale_id):
        data = input_valid(self.SaleVoidInputSerializer, request)
        sale, _ = services.sale_void(sale_id=_uuid(sale_id), reason=data["reason"], user=request.user)
        return _sale_response(sale, created=False)


class ReturnCreateApi(APIView):
    permission_classes = [IsCashier]

    class ReturnCreateInputSerializer(serializers.Serializer):
        id = serializers.UUIDField(required=False)
        sale_id = serializers.UUIDField()
        lines = _lines_field(LineInputSerializer)
        reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

        def validate_lines(self, lines):
            return distinct_skus(lines)

    @extend_schema(
        operation_id="return_create",
        request=ReturnCreateInputSerializer,
        responses={201: ReturnOutputSerializer, 200: ReturnOutputSerializer, **ERRORS},
    )
    def post(self, request):
        data = input_valid(self.ReturnCreateInputSerializer, request)
        ret, created = services.return_create(
            return_id=data.get("id"),
            sale_id=data["sale_id"],
            lines=_lines(data["lines"]),
            reason=data["reason"],
            cashier=request.user,
        )
        return Response(
            ReturnOutputSerializer(ret).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# --------------------------------------------------------------------------------------------------------------
# Branch: stock
# --------------------------------------------------------------------------------------------------------------


class StockDocumentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    transfer_id = serializers.UUIDField(allow_null=True)
    lines = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


def _document_response(document, created: bool) -> Response:
    return Response(
        StockDocumentOutputSerializer(document).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


class StockReceiptApi(APIView):
    permission_classes = [IsCashier]

    class StockReceiptInputSerializer(serializers.Serializer):
        id = serializers.UUIDField(required=False)
        transfer_id = serializers.UUIDField(required=False, allow_null=True)
        lines = _lines_field(LineInputSerializer)

        def validate_lines(self, lines):
            return distinct_skus(lines)

    @extend_schema(
        operation_id="stock_receipt_record",
        request=StockReceiptInputSerializer,
        responses={201: StockDocumentOutputSerializer, 200: StockDocumentOutputSerializer, **ERRORS},
    )
    def post(self, request):
        data = input_valid(self.StockReceiptInputSerializer, request)
        document, created = services.stock_receipt_record(
            receipt_id=data.get("id"),
            transfer_id=data.get("transfer_id"),
            lines=_lines(data["lines"]),
            user=request.user,
        )
        return _document_response(document, created)


class StockCountApi(APIView):
    permission_classes = [IsCashier]

    class StockCountInputSerializer(serializers.Serializer):
        id = serializers.UUIDField(required=False)
        lines = _lines_field(CountLineInputSerializer)

        def validate_lines(self, lines):
            return distinct_skus(lines)

    @extend_schema(
        operation_id="stock_count_record",
        request=StockCountInputSerializer,
        responses={201: StockDocumentOutputSerializer, 200: StockDocumentOutputSerializer, **ERRORS},
    )
    def post(self, request):
        data = input_valid(self.StockCountInputSerializer, request)
        document, created = services.stock_count_record(
            count_id=data.get("id"), lines=_lines(data["lines"], field="counted"), user=request.user
        )
        return _document_response(document, created)


class StockListApi(ListAPIView):
    permission_classes = [IsCashier]
    serializer_class = StockOutputSerializer
    pagination_class = cursor_page("sku")

    @extend_schema(
        operation_id="stock_list",
        parameters=[OpenApiParameter("search", str, description="SKU, barcode or part of the name")],
        responses={200: StockOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        search = self.request.query_params.get("search", "")[:64]
        return selectors.product_stock_list(branch=settings.BRANCH_CODE, search=search)


class StockDetailApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(operation_id="stock_get", responses={200: StockOutputSerializer, **ERRORS})
    def get(self, request, sku):
        product = selectors.product_stock_get(branch=settings.BRANCH_CODE, sku=sku)
        if product is None:
            raise DomainError("unknown_sku", f"Unknown SKU {sku!r}.", status=status.HTTP_404_NOT_FOUND)
        return Response(stock_body(product))


# --------------------------------------------------------------------------------------------------------------
# The seed prototype's routes, on the same services
# --------------------------------------------------------------------------------------------------------------


def _seed_inventory(branch: str) -> dict:
    return {product.sku: _number(product.on_hand) for product in selectors.product_stock_list(branch=branch)}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class SeedSaleApi(APIView):
    """``POST /venta {"producto", "cantidad"}`` as the prototype answered it: ``{"ok": true, "inventario": {...}}``,
    or 400 ``Stock insuficiente`` for an unknown product or too little stock."""

    permission_classes = [IsCashier]

    class SeedSaleInputSerializer(serializers.Serializer):
        producto = serializers.CharField(max_length=120)
        cantidad = _quantity_field(min_value=Decimal("0.001"))

    @extend_schema(
        operation_id="seed_venta",
        request=SeedSaleInputSerializer,
        responses={
            200: inline_serializer(
                "SeedSale", {"ok": serializers.BooleanField(), "inventario": serializers.DictField()}
            ),
            **ERRORS,
        },
    )
    def post(self, request):
        data = input_valid(self.SeedSaleInputSerializer, request)
        product = selectors.product_find(term=data["producto"])
        try:
            if product is None:
                raise DomainError("unknown_sku", "Stock insuficiente")
            services.sale_create(
                sale_id=None,
                lines=[services.Line(sku=product.sku, quantity=data["cantidad"])],
                payment_method=PaymentMethod.CASH,
                cashier=request.user,
            )
        except DomainError as error:
            # The prototype answered every refusal with 400 "Stock insuficiente".
            raise DomainError(error.code, "Stock insuficiente", fields=error.fields, extra=error.extra) from error
        return Response({"ok": True, "inventario": _seed_inventory(settings.BRANCH_CODE)})


class SeedInventoryApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(operation_id="seed_inventario", responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request):
        return Response(_seed_inventory(settings.BRANCH_CODE))


# --------------------------------------------------------------------------------------------------------------
# Central: the chain's stock
# --------------------------------------------------------------------------------------------------------------


class InventoryRowSerializer(serializers.Serializer):
    branch = serializers.CharField()
    sku = serializers.CharField(source="product_id")
    on_hand = _quantity_field()


class InventoryApi(ListAPIView):
    permission_classes = [IsManager]
    serializer_class = InventoryRowSerializer
    pagination_class = cursor_page("id")

    @extend_schema(
        operation_id="inventory_list",
        parameters=[OpenApiParameter("branch", str), OpenApiParameter("sku", str)],
        responses={200: InventoryRowSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.stock_levels_list(branch=params.get("branch", ""), sku=params.get("sku", ""))


class InventoryTotalsApi(APIView):
    permission_classes = [IsManager]

    class InventoryTotalsOutputSerializer(serializers.Serializer):
        sku = serializers.CharField(source="product_id")
        on_hand = _quantity_field()

    @extend_schema(
        operation_id="inventory_totals",
        parameters=[OpenApiParameter("sku", str)],
        responses={200: InventoryTotalsOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        totals = selectors.stock_totals(sku=request.query_params.get("sku", ""))
        return Response(self.InventoryTotalsOutputSerializer(totals, many=True).data)


class SeedGlobalInventoryApi(APIView):
    """``GET /inventario-global``: the prototype's chain-wide ``{sku: on_hand}``."""

    permission_classes = [IsManager]

    @extend_schema(operation_id="seed_inventario_global", responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request):
        return Response({row["product_id"]: _number(row["on_hand"]) for row in selectors.stock_totals()})


# --------------------------------------------------------------------------------------------------------------


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DomainError("not_found", f"{value!r} is not a sale id.", status=status.HTTP_404_NOT_FOUND) from None
