from django.urls import path

from cash import apis, views

branch_api = [
    path("registers", apis.RegisterListApi.as_view(), name="register-list"),
    path("cash-sessions", apis.CashSessionListApi.as_view(), name="cash-session-list"),
    path("cash-sessions/<str:session_id>", apis.CashSessionDetailApi.as_view(), name="cash-session-detail"),
    path("cash-sessions/<str:session_id>/movements", apis.CashMovementCreateApi.as_view(), name="cash-movement"),
    path("cash-sessions/<str:session_id>/report", apis.CashSessionReportApi.as_view(), name="cash-session-report"),
    path("cash-sessions/<str:session_id>/close", apis.CashSessionCloseApi.as_view(), name="cash-session-close"),
    path("cash-days/close", apis.CashDayCloseApi.as_view(), name="cash-day-close"),
    path("cash-days/<str:day>", apis.CashDayApi.as_view(), name="cash-day"),
]
branch_pages = [
    path("cash/", views.cash_home, name="page-cash"),
    path("cash/sessions/<uuid:session_id>/", views.cash_session, name="page-cash-session"),
    path("cash/sessions/<uuid:session_id>/z/", views.cash_z, name="page-cash-z"),
]

central_api = [
    path("cash-sessions", apis.SessionRecordListApi.as_view(), name="cash-session-record-list"),
]
