from django.urls import path

from reports import apis, discount_views, views

api = [
    path("reports/sales", apis.SalesReportApi.as_view(), name="report-sales"),
    path("reports/products", apis.ProductsReportApi.as_view(), name="report-products"),
    path("reports/returns-voids", apis.ReturnsVoidsReportApi.as_view(), name="report-returns-voids"),
    path("reports/payments", apis.PaymentsReportApi.as_view(), name="report-payments"),
    path("reports/stock", apis.StockReportApi.as_view(), name="report-stock"),
    path("reports/sync", apis.SyncReportApi.as_view(), name="report-sync"),
    path("reports/discounts", apis.DiscountsReportApi.as_view(), name="report-discounts-api"),
    path("reports/markdowns", apis.MarkdownsReportApi.as_view(), name="report-markdowns-api"),
]

pages = [
    path("reports/", views.reports_page, name="reports"),
    path("reports/<slug:report>.csv", views.report_csv, name="report-csv"),
    path("reports/discounts/", discount_views.discounts_page, name="report-discounts"),
    path("reports/discounts/<slug:report>.csv", discount_views.discounts_csv, name="report-discounts-csv"),
]
