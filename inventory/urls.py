from django.urls import path

from inventory import apis

branch_api = [
    path("sales", apis.SaleCreateApi.as_view(), name="sale-create"),
    path("sales/<str:sale_id>", apis.SaleDetailApi.as_view(), name="sale-detail"),
    path("sales/<str:sale_id>/void", apis.SaleVoidApi.as_view(), name="sale-void"),
    path("returns", apis.ReturnCreateApi.as_view(), name="return-create"),
    path("stock", apis.StockListApi.as_view(), name="stock-list"),
    path("stock/receipts", apis.StockReceiptApi.as_view(), name="stock-receipt"),
    path("stock/counts", apis.StockCountApi.as_view(), name="stock-count"),
    path("stock/<str:sku>", apis.StockDetailApi.as_view(), name="stock-detail"),
]
branch_seed = [
    path("venta", apis.SeedSaleApi.as_view(), name="seed-venta"),
    path("inventario", apis.SeedInventoryApi.as_view(), name="seed-inventario"),
]

central_api = [
    path("inventory", apis.InventoryApi.as_view(), name="inventory"),
    path("inventory/totals", apis.InventoryTotalsApi.as_view(), name="inventory-totals"),
]
central_seed = [
    path("inventario-global", apis.SeedGlobalInventoryApi.as_view(), name="seed-inventario-global"),
]
