from django.urls import path

from chain import apis, views

branch_api = [
    path("stock/<str:sku>/chain", apis.ChainStockApi.as_view(), name="stock-chain"),
]

central_api = [
    path("sync/chain-stock", apis.ChainStockFeedApi.as_view(), name="sync-chain-stock"),
    path("sync/chain-stock/snapshot", apis.ChainStockSnapshotApi.as_view(), name="sync-chain-stock-snapshot"),
]

branch_pages = [
    path("sales/<str:branch>/<int:number>/", views.chain_sale_detail, name="page-chain-sale"),
]

central_pages = [
    path(
        "dashboard/over-returns/<int:case_id>/resolve", views.over_return_resolve, name="dashboard-over-return-resolve"
    ),
]
