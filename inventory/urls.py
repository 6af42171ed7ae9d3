from django.urls import path

from inventory import views
from inventory.apis import branch, central, prototype

branch_api = [
    path("sales", branch.SaleCreateApi.as_view(), name="sale-create"),
    path("sales/<str:sale_id>", branch.SaleDetailApi.as_view(), name="sale-detail"),
    path("sales/<str:sale_id>/void", branch.SaleVoidApi.as_view(), name="sale-void"),
    path("returns", branch.ReturnCreateApi.as_view(), name="return-create"),
    path("stock", branch.StockListApi.as_view(), name="stock-list"),
    path("stock/receipts", branch.StockReceiptApi.as_view(), name="stock-receipt"),
    path("stock/counts", branch.StockCountApi.as_view(), name="stock-count"),
    path("stock/<str:sku>", branch.StockDetailApi.as_view(), name="stock-detail"),
]
branch_seed = [
    path("venta", prototype.SeedSaleApi.as_view(), name="seed-venta"),
    path("inventario", prototype.SeedInventoryApi.as_view(), name="seed-inventario"),
]

central_api = [
    path("inventory", central.InventoryListApi.as_view(), name="inventory"),
    path("inventory/totals", central.InventoryTotalsApi.as_view(), name="inventory-totals"),
]
central_seed = [
    path("inventario-global", prototype.SeedGlobalInventoryApi.as_view(), name="seed-inventario-global"),
]
branch_pages = [
    path("pos/", views.pos, name="page-pos"),
    path("pos/sw.js", views.pos_service_worker, name="page-pos-sw"),
    path("pos/manifest.webmanifest", views.pos_manifest, name="page-pos-manifest"),
    path("stock/", views.stock_list, name="page-stock"),
    path("stock/receive/", views.stock_receive, name="page-stock-receive"),
    path("stock/count/", views.stock_count, name="page-stock-count"),
    path("sales/", views.sale_list, name="page-sales"),
    path("sales/<int:number>/", views.sale_detail, name="page-sale-detail"),
    path("sales/<int:number>/void", views.sale_void_page, name="page-sale-void"),
    path("sales/<int:number>/return", views.sale_return, name="page-sale-return"),
    path("sales/<int:number>/receipt/", views.sale_receipt, name="page-sale-receipt"),
    path("returns/<uuid:return_id>/slip/", views.return_slip, name="page-return-slip"),
]
