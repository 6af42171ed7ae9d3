"""Central mode: head office schedules prices and defines promotions (docs/architecture.md, ``/api/v1/prices``,
``/api/v1/promotions``); each reaches every branch through the change feed ahead of its time."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from ecomarket.api import ERRORS, cursor_page, input_valid
from ecomarket.roles import IsManager
from pricing import selectors, services
from pricing.serializers import (
    PriceScheduleInputSerializer,
    PromotionInputSerializer,
    PromotionOutputSerializer,
    ScheduledPriceOutputSerializer,
)


class PriceListApi(ListAPIView):
    permission_classes = [IsManager]
    serializer_class = ScheduledPriceOutputSerializer
    pagination_class = cursor_page("id")  # unique; ?sku= narrows it to one product's schedules

    @extend_schema(
        operation_id="price_list",
        parameters=[OpenApiParameter("sku", str, description="one SKU's schedules")],
        responses={200: ScheduledPriceOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        prices = selectors.scheduled_price_list()
        sku = self.request.query_params.get("sku", "")
        return prices.filter(product_id=sku) if sku else prices

    @extend_schema(
        operation_id="price_schedule",
        request=PriceScheduleInputSerializer,
        responses={201: ScheduledPriceOutputSerializer, **ERRORS},
        description="Schedule a SKU's price from `effective_at` (manager). Every branch receives it through the "
        "change feed now and switches at `effective_at` by its own clock, also when it cannot reach head office "
        "then. A time already past means now; of two schedules, the later `effective_at` holds after its time.",
    )
    def post(self, request):
        data = input_valid(PriceScheduleInputSerializer, request)
        scheduled = services.price_schedule(
            sku=data["sku"], price=data["price"], effective_at=data["effective_at"], user=request.user
        )
        return Response(ScheduledPriceOutputSerializer(scheduled).data, status=status.HTTP_201_CREATED)


class PromotionListApi(ListAPIView):
    permission_classes = [IsManager]
    serializer_class = PromotionOutputSerializer
    pagination_class = cursor_page("id")

    @extend_schema(operation_id="promotion_list", responses={200: PromotionOutputSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.promotion_list()

    @extend_schema(
        operation_id="promotion_save",
        request=PromotionInputSerializer,
        responses={201: PromotionOutputSerializer, **ERRORS},
        description="Define a promotion on a set of SKUs from `starts_at` to `ends_at` (manager): `percent` off, a "
        "promotional `price`, `multibuy` (buy `buy` pay `pay`) or `nth_percent` (every `buy`-th unit at `percent` "
        "off). With an existing `id`, it replaces that promotion (e.g. ends it early). Branches receive it through "
        "the change feed and apply it by their own clock; where several apply, the largest saving on the line wins.",
    )
    def post(self, request):
        data = dict(input_valid(PromotionInputSerializer, request))
        promotion = services.promotion_save(promotion_id=data.pop("id", None), user=request.user, **data)
        return Response(PromotionOutputSerializer(promotion).data, status=status.HTTP_201_CREATED)
