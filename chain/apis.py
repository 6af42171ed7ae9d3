"""The chain's stock API. Central side: the feed of published figures a branch pulls, and the copy of all of them
a branch starting from nothing takes once. Branch side: ``GET /api/v1/stock/{sku}/chain``, from the replica."""

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.gzip import gzip_page
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from branches.apis import BranchOnlyApi
from chain import selectors, services
from ecomarket.api import ERRORS, whole_number
from ecomarket.errors import DomainError
from ecomarket.roles import IsCashier
from inventory.models import Product


# Compressed: the figures are what a store's uplink carries every pull (docs/benchmarks.md, "The chain at the
# till"). No secret is echoed in them, so compression reveals nothing (BREACH needs a reflected secret).
@method_decorator(gzip_page, name="dispatch")
class ChainStockFeedApi(BranchOnlyApi):
    @extend_schema(
        operation_id="sync_chain_stock",
        parameters=[OpenApiParameter("since", int, description="the next_cursor of the previous answer (0 at first)")],
        responses={
            200: inline_serializer(
                "ChainStockFeedPage",
                {
                    "snapshot_required": serializers.BooleanField(),
                    "batches": serializers.ListField(child=serializers.DictField()),
                    "next_cursor": serializers.IntegerField(),
                    "more": serializers.BooleanField(),
                },
            ),
            **ERRORS,
        },
        description="The chain's on-hand figures that changed after the cursor, as batches "
        '``{"id", "as_of", "levels": {branch: {sku: on_hand}}, "names": {branch: name} | null}``, oldest first: every '
        "figure in a batch was true at head office at its ``as_of``. ``snapshot_required``: central cannot continue "
        "from this cursor; copy ``/api/v1/sync/chain-stock/snapshot`` first.",
    )
    def get(self, request):
        cursor = whole_number(request.query_params.get("since", "0"))
        if cursor is None:
            raise DomainError("invalid", "since must be a non-negative integer cursor.", fields={"since": ["Invalid."]})
        if services.chain_stock_publish_due():
            services.chain_stock_publish()
        return HttpResponse(selectors.chain_feed_page(cursor=cursor), content_type="application/json")


@method_decorator(gzip_page, name="dispatch")
class ChainStockSnapshotApi(BranchOnlyApi):
    @extend_schema(
        operation_id="sync_chain_stock_snapshot",
        parameters=[OpenApiParameter("after", str, description="the next_after of the previous page (empty at first)")],
        responses={
            200: inline_serializer(
                "ChainStockSnapshotPage",
                {
                    "cursor": serializers.IntegerField(),
                    "as_of": serializers.DateTimeField(allow_null=True),
                    "names": serializers.DictField(),
                    "levels": serializers.DictField(),
                    "next_after": serializers.CharField(allow_null=True),
                },
            ),
            **ERRORS,
        },
        description="Every published figure, a page of branches at a time. A branch copies them all once, then "
        "follows the feed from the first page's ``cursor``.",
    )
    def get(self, request):
        after = request.query_params.get("after", "")[:16]
        if services.chain_stock_publish_due() and not after:
            services.chain_stock_publish()
        return Response(selectors.chain_snapshot_page(after=after))


class ChainStockOutputSerializer(serializers.Serializer):
    branch = serializers.CharField()
    name = serializers.CharField()
    on_hand = serializers.DecimalField(max_digits=12, decimal_places=3)
    as_of = serializers.DateTimeField(allow_null=True)


class ChainStockApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="stock_chain_get",
        responses={200: ChainStockOutputSerializer(many=True), **ERRORS},
        description="Every other store's on-hand of this SKU from this branch's replica of head office's figures, "
        "never asking central: each with ``as_of``, the time it was true at head office.",
    )
    def get(self, request, sku):
        if not Product.objects.filter(sku=sku).exists():
            raise DomainError("unknown_sku", f"Unknown SKU {sku!r}.", status=status.HTTP_404_NOT_FOUND)
        return Response(ChainStockOutputSerializer(selectors.chain_stock_for_sku(sku=sku), many=True).data)
