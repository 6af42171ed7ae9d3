"""The cash drawer's reads: a register's open session, a session's running figures (the X report, and the Z's when it
closes), a day's totals (branch mode); the sessions head office holds (central mode)."""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from branches.protocol import CASH
from cash.models import (
    CashMovement,
    CashSession,
    MovementKind,
    Refund,
    RefundKind,
    SaleTender,
    SessionRecord,
    SessionStatus,
    Verdict,
)
from ecomarket.quantities import money_text

ZERO = Decimal("0.00")


def session_open_get(*, register: str) -> CashSession | None:
    return CashSession.objects.filter(register_id=register, status=SessionStatus.OPEN).first()


def _add(totals: dict[str, Decimal], payments: list[dict]) -> None:
    for item in payments:
        totals[item["method"]] = totals.get(item["method"], ZERO) + Decimal(item["amount"])


@dataclass
class SessionFigures:
    """A session's running figures: what its sales kept and its refunds paid back, by method; its cash movements;
    what the drawer should hold."""

    opening_float: Decimal
    sales_count: int = 0
    first_sale_number: int | None = None
    last_sale_number: int | None = None
    sales: dict[str, Decimal] = field(default_factory=dict)
    refunds: dict[str, Decimal] = field(default_factory=dict)
    returns: int = 0
    voids: int = 0
    cash_in: Decimal = ZERO
    cash_out: Decimal = ZERO

    @property
    def expected_cash(self) -> Decimal:
        return (
            self.opening_float
            + self.sales.get(CASH, ZERO)
            - self.refunds.get(CASH, ZERO)
            + self.cash_in
            - self.cash_out
        )

    def body(self) -> dict:
        return {
            "sales_count": self.sales_count,
            "first_sale_number": self.first_sale_number,
            "last_sale_number": self.last_sale_number,
            "by_method": _by_method(self.sales, self.refunds),
            "returns": self.returns,
            "voids": self.voids,
            "opening_float": money_text(self.opening_float),
            "cash_in": money_text(self.cash_in),
            "cash_out": money_text(self.cash_out),
            "expected_cash": money_text(self.expected_cash),
        }


def session_report(*, session: CashSession) -> SessionFigures:
    """The X report's figures: every sale rung up in the session (a sale voided later still counts here; its void
    is a refund of the session that paid it back), every refund paid from its drawer, every cash movement."""
    figures = SessionFigures(opening_float=session.opening_float)
    numbers = []
    for number, payments in SaleTender.objects.filter(session=session).values_list("sale__number", "payments"):
        numbers.append(number)
        _add(figures.sales, payments)
    figures.sales_count = len(numbers)
    figures.first_sale_number, figures.last_sale_number = (min(numbers), max(numbers)) if numbers else (None, None)
    for kind, payments in Refund.objects.filter(session=session).values_list("kind", "payments"):
        _add(figures.refunds, payments)
        figures.returns += kind == RefundKind.RETURN
        figures.voids += kind == RefundKind.VOID
    for kind, total in CashMovement.objects.filter(session=session).values_list("kind").annotate(total=Sum("amount")):
        if kind == MovementKind.IN:
            figures.cash_in = total
        else:
            figures.cash_out = total
    return figures


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """A business day in the store's time zone, as an interval of instants."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day, time.max, tzinfo=zone)


def sessions_of_day(*, day: date) -> QuerySet[CashSession]:
    start, end = _day_bounds(day)
    return (
        CashSession.objects.filter(opened_at__range=(start, end))
        .select_related("register")
        .order_by("register", "opened_at")
    )


def day_totals(*, day: date) -> dict:
    """The day's totals over the sessions opened that day: by method (sold, paid back, net), counted and expected
    cash, and the variance; each session's Z named."""
    sales: dict[str, Decimal] = {}
    refunds: dict[str, Decimal] = {}
    expected = counted = ZERO
    sessions = []
    for session in sessions_of_day(day=day):
        z = session.z_report or {}
        for item in z.get("sales", []):
            sales[item["method"]] = sales.get(item["method"], ZERO) + Decimal(item["amount"])
        for item in z.get("refunds", []):
            refunds[item["method"]] = refunds.get(item["method"], ZERO) + Decimal(item["amount"])
        expected += Decimal(z.get("expected_cash", "0"))
        counted += session.counted_cash or ZERO
        sessions.append(
            {
                "session_id": str(session.id),
                "register": session.register_id,
                "z_number": session.z_number,
                "variance": z.get("variance"),
            }
        )
    return {
        "day": day.isoformat(),
        "sessions": sessions,
        "by_method": _by_method(sales, refunds),
        "expected_cash": money_text(expected),
        "counted_cash": money_text(counted),
        "variance": money_text(counted - expected),
    }


def session_records(*, branch: str = "", day: date | None = None) -> QuerySet[SessionRecord]:
    """Central: the sessions head office holds, by branch and by the day they opened (the chain's time zone)."""
    records = SessionRecord.objects.all()
    if branch:
        records = records.filter(branch_id=branch)
    if day:
        start, end = _day_bounds(day)
        # A session whose opening central does not hold yet is dated by its close.
        records = records.filter(
            Q(opened_at__range=(start, end)) | Q(opened_at__isnull=True, closed_at__range=(start, end))
        )
    return records


def _by_method(sales: dict[str, Decimal], refunds: dict[str, Decimal]) -> list[dict]:
    return [
        {
            "method": method,
            "sales": money_text(sales.get(method, ZERO)),
            "refunds": money_text(refunds.get(method, ZERO)),
            "net": money_text(sales.get(method, ZERO) - refunds.get(method, ZERO)),
        }
        for method in sorted(sales.keys() | refunds.keys())
    ]


def _session_head(session: CashSession) -> dict:
    return {
        "session_id": str(session.id),
        "register": session.register_id,
        "status": session.status,
        "opened_at": session.opened_at.isoformat(),
        "opened_by": session.opened_by.username if session.opened_by_id else "",
    }


def x_report(*, session: CashSession) -> dict:
    """The X report: the session's running figures, the drawer's expected cash included (a manager's view; the
    blind close form never shows it)."""
    return {**_session_head(session), **session_report(session=session).body()}


def z_report(*, session: CashSession) -> dict:
    """The Z report of a closed session, as it was closed (later voids of its sales do not change it)."""
    z = session.z_report
    amounts = {key: {item["method"]: Decimal(item["amount"]) for item in z[key]} for key in ("sales", "refunds")}
    return {
        **_session_head(session),
        "sales_count": z["sales_count"],
        "first_sale_number": z["first_sale_number"],
        "last_sale_number": z["last_sale_number"],
        "by_method": _by_method(amounts["sales"], amounts["refunds"]),
        "returns": z["returns"],
        "voids": z["voids"],
        **{
            key: z[key] for key in ("opening_float", "cash_in", "cash_out", "expected_cash", "counted_cash", "variance")
        },
        "z_number": z["z_number"],
        "first_seq": z["first_seq"],
        "last_seq": z["last_seq"],
        "closed_at": z["closed_at"],
        "closed_by": z["closed_by"],
        "approved_by": z.get("approved_by", ""),
    }


def variances_by_register_day(*, branch: str = "", since: date) -> QuerySet:
    """Central: per day (the chain's time zone, the day a session opened, or closed if central holds no opening),
    branch and register, from ``since`` on: the sessions, how many are still open or differ from the sales central
    holds, and the closed ones' expected and counted cash and variance. Newest day first, then by branch and
    register, so the dashboard shows the latest closes and a chain's worth of rows is cut, never sorted in Python."""
    records = SessionRecord.objects.annotate(
        day=TruncDate(Coalesce("opened_at", "closed_at"), tzinfo=timezone.get_current_timezone())
    ).filter(day__gte=since)
    if branch:
        records = records.filter(branch_id=branch)
    return (
        records.values("day", "branch_id", "register")
        .annotate(
            sessions=Count("id"),
            still_open=Count("id", filter=Q(closed_at__isnull=True)),
            mismatches=Count("id", filter=Q(verdict=Verdict.MISMATCH)),
            unjudged=Count("id", filter=Q(verdict=Verdict.PENDING, closed_at__isnull=False)),
            expected=Sum("expected_cash"),
            counted=Sum("counted_cash"),
            variance=Sum("variance"),
        )
        .order_by("-day", "branch_id", "register")
    )


def session_days(*, branch_sessions: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[date, str]]:
    """Central: for (branch, session id) pairs, the day (as ``variances_by_register_day`` dates it) and register of
    each session head office holds."""
    if not branch_sessions:
        return {}
    wanted = Q()
    for code, session_id in branch_sessions:
        wanted |= Q(branch_id=code, session_id=session_id)
    zone = timezone.get_current_timezone()
    return {
        (code, str(session_id)): (timezone.localtime(at, zone).date(), register)
        for code, session_id, register, at in SessionRecord.objects.filter(wanted)
        .annotate(at=Coalesce("opened_at", "closed_at"))
        .values_list("branch_id", "session_id", "register", "at")
    }
