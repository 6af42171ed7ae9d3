from django.urls import path

from inventory import apis, views

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
branch_pages = [
    path("pos/", views.pos, name="page-pos"),
    path("stock/", views.stock_list, name="page-stock"),
    path("stock/receive/", views.stock_receive, name="page-stock-receive"),
    path("stock/count/", views.stock_count, name="page-stock-count"),
    path("sales/", views.sale_list, name="page-sales"),
    path("sales/<int:number>/", views.sale_detail, name="page-sale-detail"),
    path("sales/<int:number>/void", views.sale_void, name="page-sale-void"),
    path("sales/<int:number>/return", views.sale_return, name="page-sale-return"),
]
