"""Branch mode: the POS API: sales, voids, returns, receipts, counts and the local stock reads (docs/architecture.md,
"The HTTP API")."""

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from branches.protocol import PROVISIONAL_NUMBER
from cash.models import REGISTER_CODE
from cash.serializers import (
    MAX_PAYMENTS,
    ManagerApprovalSerializer,
    PaymentInputSerializer,
    distinct_methods,
    payments_field,
    service_payments,
)
from chain.sale_index import sale_id_by_number
from ecomarket.api import ERRORS, cursor_page, input_valid
from ecomarket.errors import DomainError
from ecomarket.quantities import NumberFormatError, money_parse, quantity_parse
from ecomarket.roles import IsCashier, IsManager
from inventory import selectors, services
from inventory.models import PaymentMethod
from inventory.serializers import (
    MAX_LINES,
    CustomerInputSerializer,
    MarkdownInputSerializer,
    RegisterCodeField,
    ReturnCreateInputSerializer,
    ReturnOutputSerializer,
    SaleLineInputSerializer,
    SaleOutputSerializer,
    SaleVoidInputSerializer,
    StockCountInputSerializer,
    StockDocumentOutputSerializer,
    StockOutputSerializer,
    StockReceiptInputSerializer,
    distinct_skus,
    lines_field,
    receipt_differences,
    sale_body,
    service_lines,
    service_markdown,
    stock_body,
)


def _written(body: dict, created: bool) -> Response:
    """The answer to a write: 201 for a new record, 200 for the same request again (idempotent on its id)."""
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _sale_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DomainError("not_found", f"{value!r} is not a sale id.", status=status.HTTP_404_NOT_FOUND) from None


# --------------------------------------------------------------------------------------------------------------
# Sales
# --------------------------------------------------------------------------------------------------------------


# What the fast path takes; any other key of the sale's serializer (``customer``, ``queued``) is left to it.
_SALE_KEYS = {"id", "lines", "payment_method", "register", "payments", "markdown", "approval"}
_LINE_KEYS = {"sku", "quantity"}
_LABEL_KEYS = {"barcode"}
_PAYMENT_KEYS = {"method", "amount"}
_REGISTER = re.compile(REGISTER_CODE)
# Its limits, read from the serializers it stands in for (which read theirs from the models): a limit changed there is
# changed here. inventory/tests/test_sale_input.py fails when those serializers gain a field or a rule not checked here.
_LINE = SaleLineInputSerializer().fields
_SKU_MAX, _LABEL_MAX, _QUANTITY_MIN = _LINE["sku"].max_length, _LINE["barcode"].max_length, _LINE["quantity"].min_value
_MARKDOWN = MarkdownInputSerializer().fields
_MARKDOWN_FIGURES = {name: (_MARKDOWN[name].min_value, _MARKDOWN[name].max_value) for name in ("percent", "amount")}
_MARKDOWN_REASON_MAX = _MARKDOWN["reason"].max_length
_APPROVAL = ManagerApprovalSerializer().fields
_USERNAME_MAX, _PASSWORD_MAX = _APPROVAL["username"].max_length, _APPROVAL["password"].max_length
_PAYMENT_MIN = PaymentInputSerializer().fields["amount"].min_value


def _payments_plain(payments) -> list[dict] | None:
    """A sale's payments as ``PaymentInputSerializer`` would give them, or None for anything it would judge."""
    if not isinstance(payments, list) or not 0 < len(payments) <= MAX_PAYMENTS:
        return None
    valid = []
    for payment in payments:
        if not isinstance(payment, dict) or payment.keys() != _PAYMENT_KEYS:
            return None
        if payment["method"] not in PaymentMethod.values:
            return None
        try:
            amount = money_parse(payment["amount"])
        except NumberFormatError:
            return None
        if amount < _PAYMENT_MIN:
            return None
        valid.append({"method": payment["method"], "amount": amount})
    if len({payment["method"] for payment in valid}) != len(valid):
        return None
    return valid


def _text_plain(value, *, longest: int) -> bool:
    """A string the serializer's CharField keeps as it is: printable, not blank, no blanks around it."""
    return isinstance(value, str) and 0 < len(value) <= longest and value.isprintable() and value == value.strip()


def _markdown_plain(markdown) -> dict | None:
    """A markdown as ``MarkdownInputSerializer`` would give it, or None for anything it would judge."""
    if not isinstance(markdown, dict) or len(markdown) != 2 or "reason" not in markdown:
        return None
    figure = next((key for key in _MARKDOWN_FIGURES if key in markdown), None)
    if figure is None or not _text_plain(markdown["reason"], longest=_MARKDOWN_REASON_MAX):
        return None
    try:
        value = money_parse(markdown[figure])
    except NumberFormatError:
        return None
    low, high = _MARKDOWN_FIGURES[figure]
    if value < low or (high is not None and value > high):
        return None
    return {figure: value, "reason": markdown["reason"]}


def _approval_plain(approval) -> dict | None:
    """A manager's login as ``ManagerApprovalSerializer`` would give it, or None for anything it would judge."""
    if not isinstance(approval, dict) or approval.keys() != {"username", "password"}:
        return None
    password = approval["password"]
    if not _text_plain(approval["username"], longest=_USERNAME_MAX):
        return None
    if not (isinstance(password, str) and 0 < len(password) <= _PASSWORD_MAX and password.isprintable()):
        return None
    return {"username": approval["username"], "password": password}


def sale_input_plain(data) -> dict | None:
    """The validated data ``SaleCreateInputSerializer`` would give for the plain, well-formed body every till
    sends, or None for anything else, which the serializer then judges and words the errors for. DRF's nested
    serializers cost a sale more than it can spare (docs/benchmarks.md); a test checks both agree."""
    if not isinstance(data, dict) or not data.keys() <= _SALE_KEYS:
        return None
    lines = data.get("lines")
    if not isinstance(lines, list) or not 0 < len(lines) <= MAX_LINES:
        return None
    valid = []
    for line in lines:
        if isinstance(line, dict) and line.keys() == _LABEL_KEYS:
            # A scale label, taken as sent: the sale reads it (invalid_barcode, unknown_plu), as after the serializer.
            barcode = line["barcode"]
            if not (isinstance(barcode, str) and 0 < len(barcode) <= _LABEL_MAX and barcode.isascii()):
                return None
            if not barcode.isprintable():
                return None
            valid.append({"barcode": barcode})
            continue
        if not isinstance(line, dict) or line.keys() - {"markdown"} != _LINE_KEYS:
            return None
        markdown = _markdown_plain(line["markdown"]) if "markdown" in line else None
        if "markdown" in line and markdown is None:
            return None
        sku, text = line["sku"], line["quantity"]
        if not (isinstance(sku, str) and 0 < len(sku) <= _SKU_MAX and sku.isascii() and sku.isprintable()):
            return None
        if sku != sku.strip():
            return None
        try:
            line_quantity = quantity_parse(text)  # the serializer's own format (ecomarket/quantities.py)
        except NumberFormatError:
            return None
        if line_quantity < _QUANTITY_MIN:
            return None
        valid.append({"sku": sku, "quantity": line_quantity, **({"markdown": markdown} if markdown else {})})
    typed = [line["sku"] for line in valid if "sku" in line]
    if len(set(typed)) != len(typed):
        return None
    result = {"lines": valid, "payment_method": data.get("payment_method", PaymentMethod.CASH)}
    if result["payment_method"] not in PaymentMethod.values:
        return None
    if "payments" in data:
        if "payment_method" in data:
            return None
        result["payments"] = _payments_plain(data["payments"])
        if result["payments"] is None:
            return None
    if "register" in data:
        if not isinstance(data["register"], str) or not _REGISTER.fullmatch(data["register"]):
            return None
        result["register"] = data["register"]
    for key, plain in (("markdown", _markdown_plain), ("approval", _approval_plain)):
        if key in data:
            result[key] = plain(data[key])
            if result[key] is None:
                return None
    if "id" in data:
        if not isinstance(data["id"], str):
            return None
        try:
            result["id"] = uuid.UUID(data["id"])
        except ValueError:
            return None
    return result


# A sale the till kept while this server was away arrives with the till's time of it, held to this window around the
# server's clock: a till clock ahead by more than a few minutes, or a sale older than any outage a till rides out,
# is a wrong clock, refused (400) and left in the till's queue, marked, for a manager.
QUEUED_CLOCK_SKEW = timedelta(minutes=5)
QUEUED_MAX_AGE = timedelta(days=7)


class QueuedSaleInputSerializer(serializers.Serializer):
    """What makes a sale one the till kept while this server was away (services.QueuedSale)."""

    occurred_at = serializers.DateTimeField(help_text="when the till recorded the sale, by its own clock")
    provisional_number = serializers.RegexField(
        f"^{PROVISIONAL_NUMBER}$", max_length=32, help_text="the number on the provisional receipt"
    )

    def validate_occurred_at(self, occurred_at):
        now = timezone.now()
        if occurred_at > now + QUEUED_CLOCK_SKEW:
            raise serializers.ValidationError(
                gettext_lazy("The till's clock is ahead of the branch server's: this sale would be in the future."),
                code="future",
            )
        if occurred_at < now - QUEUED_MAX_AGE:
            raise serializers.ValidationError(
                gettext_lazy("This sale is dated more than %(days)s days ago: check the till's clock.")
                % {"days": QUEUED_MAX_AGE.days},
                code="too_old",
            )
        return occurred_at


class SaleCreateApi(APIView):
    permission_classes = [IsCashier]

    class SaleCreateInputSerializer(serializers.Serializer):
        id = serializers.UUIDField(required=False)
        lines = lines_field(SaleLineInputSerializer)
        payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CASH)
        payments = payments_field()
        register = RegisterCodeField(required=False)
        customer = CustomerInputSerializer(required=False, allow_null=True)
        markdown = MarkdownInputSerializer(required=False, help_text="a discount on the whole sale")
        approval = ManagerApprovalSerializer(required=False, help_text="a manager's login, when a markdown needs one")
        queued = QueuedSaleInputSerializer(
            required=False, help_text="a sale the till kept while this server was away, arriving now"
        )

        def validate_lines(self, lines):
            return distinct_skus(lines)

        def validate_payments(self, payments):
            return distinct_methods(payments)

        def validate(self, data):
            if "payments" in self.initial_data and "payment_method" in self.initial_data:
                raise serializers.ValidationError({"payments": ["Give payments or payment_method, not both."]})
            priced = [str(index) for index, line in enumerate(data["lines"]) if "unit_price" in line]
            if priced and "queued" not in data:
                refused = {"unit_price": ["Only a sale the till kept while the server was away (queued) has one."]}
                raise serializers.ValidationError({"lines": {index: refused for index in priced}})
            return data

    @extend_schema(
        operation_id="sale_create",
        request=SaleCreateInputSerializer,
        responses={201: SaleOutputSerializer, 200: SaleOutputSerializer, **ERRORS},
        description="Record a sale. The same id again returns the stored sale with 200; with another body, 409. "
        "`customer` (a phone or an e-mail, and a name) is kept only if the sale goes below zero, for head office "
        "to reach the customer. `register`: the till; where CASH_SESSIONS_REQUIRED is on, one without an open cash "
        "session refuses the sale (409 `no_open_session`). `payments` (instead of `payment_method`): each method "
        "once, adding up to the total; cash may exceed it, and the answer's `change` says what to hand back. A line "
        'may be a scale label, `{"barcode": "2000123012345"}`: its PLU names the product, its weight the '
        "quantity (or its price the line's gross, the quantity being price / unit price); 400 `invalid_barcode` "
        "(not a configured label, wrong check digit), `unknown_plu`, `duplicate_sku` (a product typed and scanned). "
        "Prices are those in force at the branch's clock; promotions in force discount the lines (`gross`, "
        "`discount`, `promotion_id`; the sale's `saving`). A typed line, or the sale, may carry a `markdown` "
        '`{"percent" or "amount", "reason"}` (a near-expiry markdown, a damaged pack), taken off after the promotions; '
        "one beyond MARKDOWN_APPROVAL_PERCENT of what it applies to needs a manager: the caller, or `approval` with a "
        "manager's login; otherwise 409 `approval_required`. The sale answers `markdown_approved_by`. "
        '`queued` `{"occurred_at", "provisional_number"}`: a sale the till kept while this server was away '
        '(README "What keeps working when..."): dated at `occurred_at` (400 if more than 5 minutes ahead of the '
        "server's clock or more than 7 days old), never refused for stock (flagged oversold instead), and its lines "
        "may carry the `unit_price` the till showed, charged as is without promotions (400 without `queued`). A "
        "sale recorded but whose answer was lost, sent again as queued, answers 200 and keeps the provisional number.",
    )
    def post(self, request):
        data = sale_input_plain(request.data) or input_valid(self.SaleCreateInputSerializer, request)
        recorded, created = services.sale_create(
            sale_id=data.get("id"),
            lines=service_lines(data["lines"]),
            payment_method=data["payment_method"],
            cashier=request.user,
            customer=data.get("customer"),
            register=data.get("register", ""),
            payments=service_payments(data.get("payments")),
            markdown=service_markdown(data.get("markdown")),
            approval=data.get("approval"),
            queued=services.QueuedSale(**data["queued"]) if "queued" in data else None,
        )
        return _written(sale_body(recorded.sale, recorded.lines, tender=recorded.tender), created)


class SaleDetailApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(operation_id="sale_get", responses={200: SaleOutputSerializer, **ERRORS})
    def get(self, request, sale_id):
        sale = selectors.sale_get(branch=settings.BRANCH_CODE, sale_id=_sale_id(sale_id))
        if sale is None:
            raise DomainError("not_found", f"No sale {sale_id} at this branch.", status=status.HTTP_404_NOT_FOUND)
        return Response(sale_body(sale))


class SaleVoidApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="sale_void",
        request=SaleVoidInputSerializer,
        responses={200: SaleOutputSerializer, **ERRORS},
        description="Void a whole sale (manager). Voiding it again changes nothing.",
    )
    def post(self, request, sale_id):
        data = input_valid(SaleVoidInputSerializer, request)
        sale, _ = services.sale_void(
            sale_id=_sale_id(sale_id), reason=data["reason"], user=request.user, register=data.get("register", "")
        )
        return _written(sale_body(sale), created=False)


class ReturnCreateApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="return_create",
        request=ReturnCreateInputSerializer,
        responses={201: ReturnOutputSerializer, 200: ReturnOutputSerializer, **ERRORS},
    )
    def post(self, request):
        data = input_valid(ReturnCreateInputSerializer, request)
        sale_id = data.get("sale_id") or sale_id_by_number(
            branch=data.get("sale_branch") or settings.BRANCH_CODE, number=data["sale_number"]
        )
        ret, created = services.return_create(
            return_id=data.get("id"),
            sale_id=sale_id,
            lines=service_lines(data["lines"]),
            reason=data["reason"],
            cashier=request.user,
            register=data.get("register", ""),
        )
        return _written(ReturnOutputSerializer(ret).data, created)


# --------------------------------------------------------------------------------------------------------------
# Stock
# --------------------------------------------------------------------------------------------------------------


class StockReceiptApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="stock_receipt_record",
        request=StockReceiptInputSerializer,
        responses={201: StockDocumentOutputSerializer, 200: StockDocumentOutputSerializer, **ERRORS},
    )
    def post(self, request):
        data = input_valid(StockReceiptInputSerializer, request)
        document, created = services.stock_receipt_record(
            receipt_id=data.get("id"),
            transfer_id=data.get("transfer_id"),
            lines=service_lines(data["lines"]),
            user=request.user,
            differences=receipt_differences(data),
        )
        return _written(StockDocumentOutputSerializer(document).data, created)


class StockCountApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="stock_count_record",
        request=StockCountInputSerializer,
        responses={201: StockDocumentOutputSerializer, 200: StockDocumentOutputSerializer, **ERRORS},
    )
    def post(self, request):
        data = input_valid(StockCountInputSerializer, request)
        document, created = services.stock_count_record(
            count_id=data.get("id"), lines=service_lines(data["lines"], field="counted"), user=request.user
        )
        return _written(StockDocumentOutputSerializer(document).data, created)


class StockListApi(ListAPIView):
    permission_classes = [IsCashier]
    serializer_class = StockOutputSerializer
    pagination_class = cursor_page("sku")

    @extend_schema(
        operation_id="stock_list",
        parameters=[OpenApiParameter("search", str, description="SKU, barcode, PLU or part of the name")],
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
