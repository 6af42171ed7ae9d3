from django.urls import path

from pricing import apis, views

central_api = [
    path("prices", apis.PriceListApi.as_view(), name="price-list"),
    path("promotions", apis.PromotionListApi.as_view(), name="promotion-list"),
]

central_pages = [
    path("pricing/", views.pricing_page, name="page-pricing"),
]
