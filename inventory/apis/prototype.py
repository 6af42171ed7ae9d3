"""The seed prototype's routes, answered as the prototype answered them, on the same services (docs/architecture.md,
"The HTTP API", seed compatibility): ``POST /venta`` and ``GET /inventario`` at a branch, ``GET /inventario-global`` at
central."""

from decimal import Decimal

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomarket.api import ERRORS, input_valid
from ecomarket.errors import DomainError
from ecomarket.roles import IsCashier, IsManager
from inventory import selectors, services
from inventory.models import PaymentMethod
from inventory.serializers import quantity_field


def _json_number(value: Decimal) -> int | float:
    """A quantity as the prototype wrote it: a JSON integer when whole, a float otherwise."""
    return int(value) if value == value.to_integral_value() else float(value)


def _branch_inventory(branch: str) -> dict:
    return {product.sku: _json_number(product.on_hand) for product in selectors.product_stock_list(branch=branch)}


class SeedSaleApi(APIView):
    """``POST /venta {"producto", "cantidad"}`` as the prototype answered it: ``{"ok": true, "inventario": {...}}``,
    or 400 ``Stock insuficiente`` for an unknown product or too little stock."""

    permission_classes = [IsCashier]

    class SeedSaleInputSerializer(serializers.Serializer):
        producto = serializers.CharField(max_length=120)
        cantidad = quantity_field(min_value=Decimal("0.001"))

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
        body = request.data
        if isinstance(body, dict) and type(body.get("cantidad")) is int:
            # The prototype took ``cantidad`` as a JSON integer (its clients send 1, not "1"): the one door that
            # reads a JSON number, turned into the decimal string every other door takes before the same check.
            body = {**body, "cantidad": str(body["cantidad"])}
        data = input_valid(self.SeedSaleInputSerializer, request, body=body)
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
        return Response({"ok": True, "inventario": _branch_inventory(settings.BRANCH_CODE)})


class SeedInventoryApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(operation_id="seed_inventario", responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request):
        return Response(_branch_inventory(settings.BRANCH_CODE))


class SeedGlobalInventoryApi(APIView):
    """``GET /inventario-global``: the prototype's chain-wide ``{sku: on_hand}``."""

    permission_classes = [IsManager]

    @extend_schema(operation_id="seed_inventario_global", responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request):
        return Response({row["sku"]: _json_number(row["on_hand"]) for row in selectors.stock_totals()})
