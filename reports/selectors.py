"""Central only: the head office reports, each a SQL aggregation over the roll-ups (or, for stock, over the
on-hand projection), always the smallest one that holds the figures asked for. Every report takes the same
filters and returns plain rows, so the page, the API and the CSV show the same figures."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Max, Q, QuerySet, Sum, When
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from branches.models import Branch
from ecomarket.quantities import CENT, money, quantity
from inventory.models import MONEY, Product, StockLevel, Unit
from reports.models import BranchHour, PaymentsHour, RollupCursor, SalesDay, SalesHour

GRAINS = ("day", "hour")
MAX_DAYS = 400
MAX_HOURLY_DAYS = 7  # 168 points a line: beyond that a chart is a smear and a table thousands of rows
ZERO = Decimal("0")


class FilterError(ValueError):
    """A filter that cannot be read: ``name`` is its parameter, ``reason`` says why in a word a page can put into
    its user's language (the message is the API's)."""

    def __init__(self, name: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class ReportFilters:
    date_from: date
    date_to: date  # inclusive
    branches: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    grain: str = "day"

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.date_from, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.date_to + timedelta(days=1), time.min))

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links to the CSV and the API)."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "branch": ",".join(self.branches),
            "sku": ",".join(self.skus),
            "grain": self.grain,
        }


def _list(params, name: str) -> list[str]:
    values = [part.strip() for value in params.getlist(name) for part in value.split(",")]
    return sorted({value for value in values if value})


def _date(params, name: str, default: date) -> date:
    value = params.get(name, "").strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(name, f"{name} must be a date (YYYY-MM-DD).", "not_a_date") from None


def filters_parse(params, *, today: date | None = None) -> ReportFilters:
    """Filters from query parameters: ``from``/``to`` (dates, inclusive; the last 7 days by default), ``branch``
    and ``sku`` (repeated or comma-separated), ``grain`` (day or hour). Raises FilterError."""
    today = today or timezone.localdate()
    date_to = _date(params, "to", today)
    date_from = _date(params, "from", date_to - timedelta(days=6))
    if date_from > date_to:
        raise FilterError("from", "from must not be after to.", "from_after_to")
    if (date_to - date_from).days >= MAX_DAYS:
        raise FilterError("from", f"A report covers at most {MAX_DAYS} days.", "too_many_days")
    grain = params.get("grain", "day") or "day"
    if grain not in GRAINS:
        raise FilterError("grain", "grain must be day or hour.", "not_a_grain")
    if grain == "hour" and (date_to - date_from).days >= MAX_HOURLY_DAYS:
        raise FilterError("grain", f"Per hour, a report covers at most {MAX_HOURLY_DAYS} days.", "too_many_hours")
    if grain == "hour" and date_from < today - timedelta(days=settings.REPORT_HOURLY_RETENTION_DAYS):
        days = settings.REPORT_HOURLY_RETENTION_DAYS
        raise FilterError("grain", f"Per hour, reports reach back {days} days.", "hours_folded")
    branches, skus = _list(params, "branch"), _list(params, "sku")
    for name, values in (("branch", branches), ("sku", skus)):
        if any(len(value) > 32 for value in values) or len(values) > 200:
            raise FilterError(name, f"{name}: at most 200 codes of at most 32 characters.", "too_many_codes")
    return ReportFilters(date_from=date_from, date_to=date_to, branches=branches, skus=skus, grain=grain)


def _rows(model, filters: ReportFilters) -> QuerySet:
    """The roll-up rows the filters select; the SKU filter applies to the tables kept per SKU."""
    if model is SalesDay:
        rows = model.objects.filter(day__gte=filters.date_from, day__lte=filters.date_to)
    else:
        rows = model.objects.filter(hour__gte=filters.start, hour__lt=filters.end)
    if filters.branches:
        rows = rows.filter(branch__in=filters.branches)
    if model in (SalesDay, SalesHour) and filters.skus:
        rows = rows.filter(sku__in=filters.skus)
    return rows


def _figures(filters: ReportFilters, *, by_hour: bool = False) -> QuerySet:
    """Where sold, voided and returned figures come from: all products together per branch and hour (the smallest
    table) unless products are chosen, then per SKU and day (or hour)."""
    if not filters.skus:
        return _rows(BranchHour, filters).exclude(sales=0, voids=0, returns=0)  # hours of receipts or counts only
    return _rows(SalesHour if by_hour else SalesDay, filters)


def _period(filters: ReportFilters, rows: QuerySet):
    if rows.model is SalesDay:
        return F("day")
    return TruncDate("hour") if filters.grain == "day" else TruncHour("hour")


def _label(value) -> str:
    return (
        value.isoformat()
        if isinstance(value, date) and not isinstance(value, datetime)
        else (timezone.localtime(value).strftime("%Y-%m-%d %H:00"))
    )


def _rate(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(CENT) if whole else ZERO


def _weighed() -> QuerySet:
    """The SKUs sold by weight, as a subquery: kilograms and units are summed apart, never together."""
    return Product.objects.filter(unit=Unit.KILOGRAM).values("sku")


def _by_unit(field: str) -> dict:
    """``field`` summed as pieces (``units``) and as kilograms (``kg``) over rows kept per SKU."""
    return {
        "units": Sum(field, filter=~Q(sku__in=_weighed()), default=ZERO),
        "kg": Sum(field, filter=Q(sku__in=_weighed()), default=ZERO),
    }


def sales_by_period(filters: ReportFilters) -> list[dict]:
    """Per branch and day (or hour): what was sold, in units (pieces) and in kilograms apart, the amount sold,
    voided and returned, and the net amount."""
    source = _figures(filters, by_hour=filters.grain == "hour")
    rows = (
        source.annotate(period=_period(filters, source))
        .values("period", "branch")
        .annotate(amount=Sum("sold_amount"), voided=Sum("voided_amount"), returned=Sum("returned_amount"))
        .order_by("period", "branch")
    )
    # What was sold, per unit of measure, from the rows kept per SKU (the branch-hour table sums every product).
    per_sku = _rows(SalesHour if filters.grain == "hour" else SalesDay, filters)
    sold = {
        (_label(row["period"]), row["branch"]): row
        for row in per_sku.annotate(period=_period(filters, per_sku))
        .values("period", "branch")
        .annotate(**_by_unit("sold_units"))
    }
    result = []
    for row in rows:
        period = _label(row["period"])
        quantities = sold.get((period, row["branch"]), {"units": ZERO, "kg": ZERO})
        result.append(
            {
                "period": period,
                "branch": row["branch"],
                "units": quantity(quantities["units"]),
                "kg": quantity(quantities["kg"]),
                "amount": money(row["amount"]),
                "voided_amount": money(row["voided"]),
                "returned_amount": money(row["returned"]),
                "net_amount": money(row["amount"] - row["voided"] - row["returned"]),
            }
        )
    return result


def sales_by_product(filters: ReportFilters) -> list[dict]:
    """Per SKU over the period and branches: quantity (in the product's ``unit``) and amount sold, voided and
    returned; best sellers first."""
    rows = list(
        _rows(SalesDay, filters)
        .values("sku")
        .annotate(
            units=Sum("sold_units"),
            amount=Sum("sold_amount"),
            voided_units=Sum("voided_units"),
            returned_units=Sum("returned_units"),
            voided=Sum("voided_amount"),
            returned=Sum("returned_amount"),
        )
        .order_by("-amount", "sku")
    )
    products = {
        sku: (name, unit)
        for sku, name, unit in Product.objects.filter(sku__in=[row["sku"] for row in rows]).values_list(
            "sku", "name", "unit"
        )
    }
    return [
        {
            "sku": row["sku"],
            "name": products.get(row["sku"], ("", ""))[0],
            # What the quantities count: pieces ("unit") or kilograms ("kg").
            "unit": products.get(row["sku"], ("", ""))[1],
            "units": quantity(row["units"]),
            "amount": money(row["amount"]),
            "voided_units": quantity(row["voided_units"]),
            "returned_units": quantity(row["returned_units"]),
            "net_amount": money(row["amount"] - row["voided"] - row["returned"]),
        }
        for row in rows
    ]


def returns_and_voids(filters: ReportFilters) -> list[dict]:
    """Per branch: how much of what was sold was voided or returned (by amount, so the product filter applies),
    and the tickets behind it (whole tickets: the product filter does not split a ticket)."""
    amounts = {
        row["branch"]: row
        for row in _figures(filters)
        .values("branch")
        .annotate(sold=Sum("sold_amount"), voided=Sum("voided_amount"), returned=Sum("returned_amount"))
    }
    tickets = {
        row["branch"]: row
        for row in _rows(BranchHour, filters)
        .values("branch")
        .annotate(sales=Sum("sales"), voids=Sum("voids"), returns=Sum("returns"))
    }
    result = []
    for code in sorted(set(amounts) | set(tickets)):
        amount = amounts.get(code, {"sold": ZERO, "voided": ZERO, "returned": ZERO})
        ticket = tickets.get(code, {"sales": 0, "voids": 0, "returns": 0})
        result.append(
            {
                "branch": code,
                "sold_amount": money(amount["sold"]),
                "voided_amount": money(amount["voided"]),
                "returned_amount": money(amount["returned"]),
                "void_rate_pct": _rate(amount["voided"], amount["sold"]),
                "return_rate_pct": _rate(amount["returned"], amount["sold"]),
                "sales": ticket["sales"],
                "voids": ticket["voids"],
                "returns": ticket["returns"],
            }
        )
    return result


def stock_by_branch(filters: ReportFilters) -> list[dict]:
    """Per branch, now (dates do not apply): SKUs held, what is on hand in units (pieces) and in kilograms apart,
    and its value at today's catalog price; what is below zero (oversold) counts against the value, as the ledger
    says."""
    levels = StockLevel.objects.all()
    if filters.branches:
        levels = levels.filter(branch__in=filters.branches)
    if filters.skus:
        levels = levels.filter(product_id__in=filters.skus)
    value = ExpressionWrapper(F("on_hand") * F("product__price"), output_field=DecimalField(**MONEY))
    rows = (
        levels.values("branch")
        .annotate(
            skus=Count("id", filter=~Q(on_hand=0)),
            units=Sum("on_hand", filter=~Q(product__unit=Unit.KILOGRAM)),
            kg=Sum("on_hand", filter=Q(product__unit=Unit.KILOGRAM)),
            value=Sum(value),
            below_zero=Count("id", filter=Q(on_hand__lt=0)),
        )
        .order_by("branch")
    )
    return [
        {
            "branch": row["branch"],
            "skus": row["skus"] or 0,
            "units": quantity(row["units"] or ZERO),
            "kg": quantity(row["kg"] or ZERO),
            "value": money(row["value"]),
            "below_zero": row["below_zero"] or 0,
        }
        for row in rows
    ]


# The most events in one hour of a BranchHour row: its own, or for a day folded into one row, the day's busiest hour.
_PEAK = Case(When(peak_events__gt=0, then=F("peak_events")), default=F("events"))


def sync_health(filters: ReportFilters) -> list[dict]:
    """Per branch and day (or hour): events central received, the most in one hour, and how long they took to
    arrive (mean and worst)."""
    rows = (
        _rows(BranchHour, filters)
        .annotate(period=_period(filters, BranchHour.objects.none()))
        .values("period", "branch")
        .annotate(received=Sum("events"), peak=Max(_PEAK), lag_total=Sum("lag_total_s"), lag_max=Max("lag_max_s"))
        .order_by("period", "branch")
    )
    return [
        {
            "period": _label(row["period"]),
            "branch": row["branch"],
            "events": row["received"],
            "events_peak_hour": row["peak"],
            "lag_mean_s": round(row["lag_total"] / row["received"], 1) if row["received"] else 0.0,
            "lag_max_s": round(row["lag_max"], 1),
        }
        for row in rows
    ]


def payments_by_method(filters: ReportFilters) -> list[dict]:
    """Per day (or hour), branch and payment method: the sales paid with it, what they kept by it (cash net of
    the change), what voids and returns paid back by it, and the net. Whole tickets: the product filter does not
    apply (a payment is not split between products)."""
    rows = (
        _rows(PaymentsHour, filters)
        .annotate(period=_period(filters, PaymentsHour.objects.none()))
        .values("period", "branch", "method")
        .annotate(payments=Sum("payments"), paid=Sum("paid_amount"), refunded=Sum("refunded_amount"))
        .order_by("period", "branch", "method")
    )
    return [
        {
            "period": _label(row["period"]),
            "branch": row["branch"],
            "method": row["method"],
            "payments": row["payments"],
            "amount": money(row["paid"]),
            "refunded_amount": money(row["refunded"]),
            "net_amount": money(row["paid"] - row["refunded"]),
        }
        for row in rows
    ]


# Each report's columns, in order (the CSV's header even when a report has no rows).
COLUMNS = {
    "sales": ["period", "branch", "units", "kg", "amount", "voided_amount", "returned_amount", "net_amount"],
    "products": ["sku", "name", "unit", "units", "amount", "voided_units", "returned_units", "net_amount"],
    "returns-voids": [
        "branch",
        "sold_amount",
        "voided_amount",
        "returned_amount",
        "void_rate_pct",
        "return_rate_pct",
        "sales",
        "voids",
        "returns",
    ],
    "payments": ["period", "branch", "method", "payments", "amount", "refunded_amount", "net_amount"],
    "stock": ["branch", "skus", "units", "kg", "value", "below_zero"],
    "sync": ["period", "branch", "events", "events_peak_hour", "lag_mean_s", "lag_max_s"],
}

REPORTS = {
    "sales": sales_by_period,
    "products": sales_by_product,
    "returns-voids": returns_and_voids,
    "payments": payments_by_method,
    "stock": stock_by_branch,
    "sync": sync_health,
}


KPI_PRESETS = ("today", "yesterday", "week")


@dataclass(frozen=True)
class Kpi:
    """One period's headline figures: net sales (sold less voided and returned), tickets, and the average basket
    (sold over tickets: what a customer spends, before anything is voided or returned)."""

    sales: Decimal
    tickets: int
    basket: Decimal


def _kpi(first: date, last: date, branch: str) -> Kpi:
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    rows = BranchHour.objects.filter(hour__gte=start, hour__lt=end)
    if branch:
        rows = rows.filter(branch=branch)
    total = rows.aggregate(
        sold=Sum("sold_amount"), voided=Sum("voided_amount"), returned=Sum("returned_amount"), tickets=Sum("sales")
    )
    sold, tickets = total["sold"] or ZERO, total["tickets"] or 0
    return Kpi(
        sales=money(sold - (total["voided"] or ZERO) - (total["returned"] or ZERO)),
        tickets=tickets,
        basket=money(sold / tickets) if tickets else ZERO,
    )


def _change(now, before) -> Decimal | None:
    """The change against the week before, in percent; None when there was nothing to compare with."""
    return ((Decimal(now) - Decimal(before)) / Decimal(before) * 100).quantize(Decimal("0.1")) if before else None


def kpi_tiles(*, preset: str = "today", branch: str = "", today: date | None = None) -> dict:
    """Today's (yesterday's, this week's so far) sales, tickets and average basket, each against the same days a
    week before, over whole days of the chain's time zone from the hourly roll-ups (so as current as they are)."""
    today = today or timezone.localdate()
    first, last = {
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "week": (today - timedelta(days=today.weekday()), today),
    }.get(preset, (today, today))
    week = timedelta(days=7)
    now, before = _kpi(first, last, branch), _kpi(first - week, last - week, branch)
    return {
        "first": first,
        "last": last,
        "tiles": [
            {
                "name": name,
                "value": getattr(now, name),
                "before": getattr(before, name),
                "change": _change(getattr(now, name), getattr(before, name)),
            }
            for name in ("sales", "tickets", "basket")
        ],
    }


def rollup_state() -> dict:
    """How current the roll-ups are: when they last moved and how many stored events they do not hold yet."""
    rolled = dict(RollupCursor.objects.values_list("branch", "rolled_seq"))
    last = RollupCursor.objects.aggregate(at=Max("rolled_at"))["at"]
    behind = sum(
        max(high_water - rolled.get(code, 0), 0)
        for code, high_water in Branch.objects.values_list("code", "high_water_seq")
    )
    return {"rolled_up_at": last, "events_not_rolled_up": behind}


def best_selling_weighed(*, branch: str = "", days: int = 28, limit: int = 12) -> list[dict]:
    """The goods sold by weight (loose fruit and vegetables) that sold most at ``branch`` (every branch: empty)
    over the last ``days`` days, by kilograms: what a till's quick keys are for. Rows of sku, name and kg."""
    rows = SalesDay.objects.filter(
        day__gt=timezone.localdate() - timedelta(days=days),
        sku__in=Product.objects.filter(unit=Unit.KILOGRAM, active=True).values("sku"),
    )
    if branch:
        rows = rows.filter(branch=branch)
    best = list(rows.values("sku").annotate(kg=Sum("sold_units")).order_by("-kg", "sku")[:limit])
    names = dict(Product.objects.filter(sku__in=[row["sku"] for row in best]).values_list("sku", "name"))
    return [{"sku": row["sku"], "name": names.get(row["sku"], ""), "kg": quantity(row["kg"])} for row in best]
