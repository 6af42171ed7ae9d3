from django.urls import path

from branches import apis

branch_api = [
    path("sync/status", apis.SyncStatusApi.as_view(), name="sync-status"),
]

central_api = [
    path("sync/events", apis.SyncEventsApi.as_view(), name="sync-events"),
    path("sync/changes", apis.SyncChangesApi.as_view(), name="sync-changes"),
    path("sync/catalog", apis.SyncCatalogApi.as_view(), name="sync-catalog"),
    path("sync/failed-changes", apis.FailedChangesReportApi.as_view(), name="sync-failed-changes"),
    path("products/<str:sku>", apis.ProductSaveApi.as_view(), name="product-save"),
    path("transfers", apis.TransferCreateApi.as_view(), name="transfer-create"),
    path("quick-keys", apis.QuickKeysApi.as_view(), name="quick-keys"),
]
