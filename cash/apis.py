"""The cash drawer's API: registers, cash sessions, their movements, X and Z reports and the day close (branch
mode); the sessions head office holds (central mode)."""

import uuid
from datetime import date

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from cash import selectors, services
from cash.models import CashSession, DayClose, Register, SessionStatus
from cash.serializers import (
    CashDayCloseInputSerializer,
    CashMovementInputSerializer,
    CashMovementOutputSerializer,
    CashSessionCloseInputSerializer,
    CashSessionOpenInputSerializer,
    CashSessionOutputSerializer,
    DayCloseSerializer,
    RegisterSerializer,
    ReportSerializer,
    SessionRecordSerializer,
    ZReportSerializer,
)
from ecomarket.api import ERRORS, cursor_page, input_valid
from ecomarket.errors import DomainError
from ecomarket.roles import IsCashier, IsManager


def _written(body: dict, created: bool) -> Response:
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DomainError("not_found", f"{value!r} is not a cash session id.", status=404) from None


def _session(value: str) -> CashSession:
    session = CashSession.objects.select_related("opened_by").filter(pk=_session_id(value)).first()
    if session is None:
        raise DomainError("not_found", f"No cash session {value} at this store.", status=404)
    return session


def session_answer(session: CashSession) -> dict:
    """A session as the API shows it: the Z report once closed."""
    return CashSessionOutputSerializer(session).data


# --------------------------------------------------------------------------------------------------------------
# Branch mode
# --------------------------------------------------------------------------------------------------------------


class RegisterListApi(APIView):
    def get_permissions(self):
        return [IsManager()] if self.request.method == "POST" else [IsCashier()]

    @extend_schema(operation_id="register_list", responses={200: RegisterSerializer(many=True), **ERRORS})
    def get(self, request):
        return Response(RegisterSerializer(Register.objects.all(), many=True).data)

    @extend_schema(
        operation_id="register_save",
        request=RegisterSerializer,
        responses={201: RegisterSerializer, 200: RegisterSerializer, **ERRORS},
        description="Create a register (till) by its code, or rename / deactivate it (manager).",
    )
    def post(self, request):
        data = input_valid(RegisterSerializer, request)
        register, created = services.register_save(code=data["code"], name=data["name"], active=data["active"])
        return _written(RegisterSerializer(register).data, created)


class CashSessionListApi(ListAPIView):
    serializer_class = CashSessionOutputSerializer
    pagination_class = cursor_page("-open_seq")

    def get_permissions(self):
        return [IsCashier()]

    @extend_schema(
        operation_id="cash_session_list",
        parameters=[
            OpenApiParameter("register", str, description="one register's sessions"),
            OpenApiParameter("status", str, enum=["open", "closed"]),
        ],
        responses={200: CashSessionOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        sessions = CashSession.objects.select_related("opened_by")
        if register := self.request.query_params.get("register"):
            sessions = sessions.filter(register_id=register[:16])
        if state := self.request.query_params.get("status"):
            sessions = sessions.filter(status=state[:8])
        return sessions

    @extend_schema(
        operation_id="cash_session_open",
        request=CashSessionOpenInputSerializer,
        responses={201: CashSessionOutputSerializer, 200: CashSessionOutputSerializer, **ERRORS},
        description="Open a cash session on a register with its opening float. One open session per register "
        "(409 `session_open`). The same id again answers the stored session.",
    )
    def post(self, request):
        data = input_valid(CashSessionOpenInputSerializer, request)
        session, created = services.cash_session_open(
            session_id=data.get("id"),
            register=data["register"],
            opening_float=data["opening_float"],
            user=request.user,
        )
        return _written(session_answer(session), created)


class CashSessionDetailApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(operation_id="cash_session_get", responses={200: CashSessionOutputSerializer, **ERRORS})
    def get(self, request, session_id):
        return Response(session_answer(_session(session_id)))


class CashMovementCreateApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="cash_movement_record",
        request=CashMovementInputSerializer,
        responses={201: CashMovementOutputSerializer, 200: CashMovementOutputSerializer, **ERRORS},
        description="Cash put in the drawer (`in`) or taken out (`out`, e.g. a pickup to the safe). Idempotent by "
        "id; a closed session takes none (409 `session_closed`).",
    )
    def post(self, request, session_id):
        data = input_valid(CashMovementInputSerializer, request)
        movement, created = services.cash_movement_record(
            movement_id=data.get("id"),
            session_id=_session_id(session_id),
            kind=data["kind"],
            amount=data["amount"],
            reason=data["reason"],
            user=request.user,
        )
        return _written(CashMovementOutputSerializer(movement).data, created)


class CashSessionReportApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="cash_session_report",
        responses={200: ReportSerializer, **ERRORS},
        description="The X report of an open session (running figures, expected cash); of a closed one, its Z.",
    )
    def get(self, request, session_id):
        session = _session(session_id)
        if session.z_report:
            return Response(selectors.z_report(session=session))
        return Response(selectors.x_report(session=session))


class CashSessionCloseApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="cash_session_close",
        request=CashSessionCloseInputSerializer,
        responses={201: ZReportSerializer, 200: ZReportSerializer, **ERRORS},
        description="The blind close: `counted.cash` is what the drawer holds. Answers the Z report (z_number "
        "gapless per register, sale numbers and event seqs covered, totals by method, expected and counted cash, "
        "variance). A variance beyond CASH_VARIANCE_APPROVAL needs a manager: the caller, or `approval` with a "
        "manager's login; otherwise 409 `approval_required`. Closing again with the same count answers the same Z.",
    )
    def post(self, request, session_id):
        data = input_valid(CashSessionCloseInputSerializer, request)
        session, created = services.cash_session_close(
            session_id=_session_id(session_id),
            counted_cash=data["counted"]["cash"],
            user=request.user,
            approval=data.get("approval"),
        )
        session = _session(str(session.id))
        return _written(selectors.z_report(session=session), created)


class CashDayApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="cash_day_get",
        responses={200: DayCloseSerializer, **ERRORS},
        description="A business day: its close if it is closed, else its totals so far (`closed_at` null) and "
        "the registers still open.",
    )
    def get(self, request, day):
        when = _day(day)
        close = DayClose.objects.filter(pk=when).first()
        if close is not None:
            return Response(DayCloseSerializer(close).data)
        still_open = sorted(CashSession.objects.filter(status=SessionStatus.OPEN).values_list("register_id", flat=True))
        return Response(
            {
                "day": when.isoformat(),
                "closed_at": None,
                "totals": selectors.day_totals(day=when),
                "registers_open": still_open,
            }
        )


class CashDayCloseApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="cash_day_close",
        request=CashDayCloseInputSerializer,
        responses={201: DayCloseSerializer, 200: DayCloseSerializer, **ERRORS},
        description="Close the store's day (manager) once every register is closed (409 `registers_open`), with "
        "the day's totals. Closing it again answers the first close.",
    )
    def post(self, request):
        data = input_valid(CashDayCloseInputSerializer, request)
        close, created = services.cash_day_close(day=data.get("day") or timezone.localdate(), user=request.user)
        return _written(DayCloseSerializer(close).data, created)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError("invalid", f"{value!r} is not a day (YYYY-MM-DD).", fields={"day": ["YYYY-MM-DD."]}) from None


# --------------------------------------------------------------------------------------------------------------
# Central mode
# --------------------------------------------------------------------------------------------------------------


class SessionRecordListApi(ListAPIView):
    permission_classes = [IsManager]
    serializer_class = SessionRecordSerializer
    pagination_class = cursor_page("id")

    @extend_schema(
        operation_id="cash_session_record_list",
        parameters=[
            OpenApiParameter("branch", str, description="a branch code"),
            OpenApiParameter(
                "date", str, description="the day the sessions opened (YYYY-MM-DD, the chain's time zone)"
            ),
        ],
        responses={200: SessionRecordSerializer(many=True), **ERRORS},
        description="The branches' cash sessions as head office received them, with each Z's variance and whether "
        "it agrees with the sales, returns and voids head office holds for the session (`verdict`).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        day = _day(params["date"]) if params.get("date") else None
        return selectors.session_records(branch=params.get("branch", "")[:16], day=day)
