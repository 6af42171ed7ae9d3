"""Central mode: the chain's stock, per (branch, SKU) and per SKU."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomarket.api import ERRORS, cursor_page
from ecomarket.roles import IsManager
from inventory import selectors
from inventory.serializers import InventoryRowSerializer, InventoryTotalsOutputSerializer


class InventoryListApi(ListAPIView):
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

    @extend_schema(
        operation_id="inventory_totals",
        parameters=[OpenApiParameter("sku", str)],
        responses={200: InventoryTotalsOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        totals = selectors.stock_totals(sku=request.query_params.get("sku", ""))
        return Response(InventoryTotalsOutputSerializer(totals, many=True).data)
