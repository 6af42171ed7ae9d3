from django.urls import path

from reconciliation import apis, views

api = [
    path("discrepancies", apis.DiscrepancyListApi.as_view(), name="discrepancy-list"),
    path("discrepancies/<str:discrepancy_id>", apis.DiscrepancyActApi.as_view(), name="discrepancy-act"),
    path("oversell-cases", apis.OversellCaseListApi.as_view(), name="oversell-case-list"),
    path("oversell-cases/<str:case_id>", apis.OversellCaseActApi.as_view(), name="oversell-case-act"),
]

pages = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/discrepancies.csv", views.discrepancies_csv, name="dashboard-csv"),
    path(
        "dashboard/discrepancies/<int:discrepancy_id>/act", views.discrepancy_act_page, name="dashboard-discrepancy-act"
    ),
    path("dashboard/oversell/<int:case_id>/act", views.oversell_case_act_page, name="dashboard-oversell-act"),
    path("transfers/", views.transfers_page, name="dashboard-transfers"),
    path("quick-keys/", views.quick_keys_page, name="dashboard-quick-keys"),
]
