from django.urls import path

from pricing import apis

central_api = [
    path("prices", apis.PriceListApi.as_view(), name="price-list"),
    path("promotions", apis.PromotionListApi.as_view(), name="promotion-list"),
]
