"""Central only: folding branch events into the report roll-ups (see reports/models.py)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from branches.models import Branch, BranchEvent
from branches.protocol import CASH, EventType, sale_payments
from ecomarket.db import rows_accumulate, rows_update
from ecomarket.modes import Mode, only
from ecomarket.quantities import money
from pricing.services import Markdown
from reports.models import BranchHour, MarkdownDay, PaymentsHour, PriceDay, RollupCursor, SalesDay, SalesHour

GROUP = 50  # branches folded in one transaction
PER_BRANCH = 100  # events per branch per transaction: a long backlog is folded in short transactions (≤ 5,000 events)
ZERO = Decimal("0")


# Each roll-up table and the fields that key its rows (besides the branch).
TABLES = {
    SalesHour: ("hour", "sku"),
    SalesDay: ("day", "sku"),
    BranchHour: ("hour",),
    PaymentsHour: ("hour", "method"),
    PriceDay: ("day", "sku", "promotion"),
    MarkdownDay: ("day", "cashier", "approved_by", "reason"),
}


@dataclass
class _Totals:
    """The increments one group of branches adds to the roll-up rows: per table, per key (the branch first), per
    field."""

    rows: dict[type, dict[tuple, dict]] = field(default_factory=lambda: {model: {} for model in TABLES})

    def of(self, model, *key) -> dict:
        return self.rows[model].setdefault(key, {})

    def line(self, code: str, at: datetime, sku: str, what: str, quantity: Decimal, amount: Decimal) -> None:
        """One line sold, voided or returned (``what``), counted per SKU by hour and by day, and per branch."""
        hour = _hour(at)
        for row in (self.of(SalesHour, code, hour, sku), self.of(SalesDay, code, timezone.localdate(at), sku)):
            _add(row, f"{what}_units", quantity)
            _add(row, f"{what}_amount", amount)
        if what == "sold":
            _add(self.of(BranchHour, code, hour), "sold_units", quantity)
        _add(self.of(BranchHour, code, hour), f"{what}_amount", amount)

    def paid(self, code: str, at: datetime, pairs: list[tuple[str, Decimal]], *, refund: bool) -> None:
        """A sale's payments, or what a void or return paid back, by method."""
        for method, amount in pairs:
            row = self.of(PaymentsHour, code, _hour(at), method[:16])
            if refund:
                _add(row, "refunded_amount", amount)
            else:
                _add(row, "payments", 1)
                _add(row, "paid_amount", amount)


def _add(row: dict, name: str, value) -> None:
    row[name] = row.get(name, 0) + value


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _prices(payload: dict) -> dict[str, Decimal]:
    return {line["sku"]: Decimal(line["unit_price"]) for line in payload.get("lines", [])}


@only(Mode.CENTRAL)
def report_rollup_refresh(*, branch: str = "") -> int:
    """Fold every branch's (or one branch's) new events into the roll-ups; returns how many events were folded.
    Safe to run twice and concurrently: a group moves its branches' cursors in the same transaction as the rows it
    adds, under those cursors' row locks, so an event is counted exactly once.

    Only the branches with something new are read, and they are folded GROUP at a time in one transaction: at 500
    stores a run was 500 transactions of a dozen statements each, and the largest part of central's Celery CPU
    (docs/scale.md, "The periodic jobs"). A branch with more than PER_BRANCH events waiting is folded again, until
    it has caught up with where it stood when the run began."""
    folded, codes = 0, _branches_behind(branch)
    while codes:
        again = []
        for start in range(0, len(codes), GROUP):
            count, unfinished = _group_fold(codes[start : start + GROUP])
            folded += count
            again += unfinished
        codes = again
    return folded


def _branches_behind(branch: str) -> list[str]:
    """The branches (``branch`` alone if given) with events to fold: stored past their roll-up cursor, or stored
    since it last looked (a higher ingest mark), in code order."""
    cursor = RollupCursor.objects.filter(branch=OuterRef("code"))
    behind = Branch.objects.annotate(
        rolled=Coalesce(Subquery(cursor.values("rolled_seq")), Value(0), output_field=BigIntegerField()),
        rolled_mark=Coalesce(Subquery(cursor.values("rolled_mark")), Value(0), output_field=BigIntegerField()),
    ).filter(Q(high_water_seq__gt=F("rolled")) | Q(ingest_mark__gt=F("rolled_mark")))
    if branch:
        behind = behind.filter(code=branch)
    return list(behind.order_by("code").values_list("code", flat=True))


def _group_fold(codes: list[str]) -> tuple[int, list[str]]:
    """Fold up to PER_BRANCH events of each of ``codes`` in one transaction; returns how many were folded and the
    branches that have more waiting."""
    RollupCursor.objects.bulk_create([RollupCursor(branch=code) for code in codes], ignore_conflicts=True)
    with transaction.atomic():
        # In code order, so two runs lock a group's cursors in the same order and never wait on each other in a cycle.
        cursors = list(RollupCursor.objects.select_for_update().filter(branch__in=codes).order_by("branch"))
        # Only below the high-water mark: every event there is stored, so a void always finds its sale and a late
        # event is never skipped by a cursor that already moved past it. Only up to the ingest mark read here: an
        # event stored meanwhile is left to the next run, whatever its seq, so the two folds below never overlap.
        stored = {
            code: (high_water, mark)
            for code, high_water, mark in Branch.objects.filter(code__in=codes).values_list(
                "code", "high_water_seq", "ingest_mark"
            )
        }
        high_water = {code: high for code, (high, _) in stored.items()}
        ranges = {
            cursor.branch: (cursor.rolled_seq, min(high_water[cursor.branch], cursor.rolled_seq + PER_BRANCH))
            for cursor in cursors
            if high_water[cursor.branch] > cursor.rolled_seq
        }
        # Events accepted below the cursor after it passed them: a rejected event re-sent once its cause was fixed.
        late = {
            cursor.branch: (cursor.rolled_seq, cursor.rolled_mark)
            for cursor in cursors
            if stored[cursor.branch][1] > cursor.rolled_mark
        }
        if not ranges and not late:  # another run folded them meanwhile
            return 0, []
        wanted = [
            Q(branch_id=code, seq__gt=low, seq__lte=high, ingest_mark__lte=stored[code][1])
            for code, (low, high) in ranges.items()
        ] + [
            Q(branch_id=code, seq__lte=rolled, ingest_mark__gt=mark, ingest_mark__lte=stored[code][1])
            for code, (rolled, mark) in late.items()
        ]
        events = list(
            BranchEvent.objects.filter(reduce(or_, wanted))
            .order_by("branch_id", "seq")
            .values_list("branch_id", "type", "occurred_at", "received_at", "payload", "sale_ref")
        )
        _rows_add(_fold(events))
        now = timezone.now()
        moved = [cursor for cursor in cursors if cursor.branch in ranges or cursor.branch in late]
        for cursor in moved:
            cursor.rolled_seq = ranges[cursor.branch][1] if cursor.branch in ranges else cursor.rolled_seq
            cursor.rolled_mark, cursor.rolled_at = stored[cursor.branch][1], now
        rows_update(RollupCursor, moved, ("rolled_seq", "rolled_mark", "rolled_at"))
    return len(events), [code for code, (low, high) in ranges.items() if high < high_water[code]]


def _fold(events: list) -> _Totals:
    referred = {
        (code, sale_ref)
        for code, type_, *_, sale_ref in events
        if type_ in (EventType.SALE_VOIDED, EventType.RETURN_COMPLETED)
    }
    sales = (
        {
            (code, sale_ref): payload
            for code, sale_ref, payload in BranchEvent.objects.filter(
                branch_id__in={code for code, _ in referred},
                type=EventType.SALE_COMPLETED,
                sale_ref__in={sale_ref for _, sale_ref in referred},
            ).values_list("branch_id", "sale_ref", "payload")
        }
        if referred
        else {}
    )
    totals = _Totals()
    for code, type_, occurred_at, received_at, payload, sale_ref in events:
        row = totals.of(BranchHour, code, _hour(occurred_at))
        lag = max((received_at - occurred_at).total_seconds(), 0.0)
        _add(row, "events", 1)
        _add(row, "lag_total_s", lag)
        row["lag_max_s"] = max(row.get("lag_max_s", 0.0), lag)
        # Sold and voided lines carry their price; a returned line is valued at the price its sale carried.
        if type_ == EventType.SALE_COMPLETED:
            _add(row, "sales", 1)
            what, lines, prices = "sold", payload["lines"], {}
        elif type_ == EventType.SALE_VOIDED:
            _add(row, "voids", 1)
            what, lines, prices = "voided", (sales.get((code, sale_ref)) or {}).get("lines", []), {}
        elif type_ == EventType.RETURN_COMPLETED:
            _add(row, "returns", 1)
            what, lines, prices = "returned", payload["lines"], _prices(sales.get((code, sale_ref)) or {})
        else:
            continue
        value = ZERO
        for line in lines:
            quantity = Decimal(line["quantity"])
            price = Decimal(line["unit_price"]) if "unit_price" in line else prices.get(line["sku"], ZERO)
            # A line priced otherwise than quantity x unit price (a scale label's price, a promotion) says so.
            amount = Decimal(line["line_total"]) if "line_total" in line else money(quantity * price)
            totals.line(code, occurred_at, line["sku"], what, quantity, amount)
            value += amount
            if what == "sold":
                _priced(totals, code, occurred_at, line, quantity, amount)
        if what == "sold":
            _marked_down(totals, code, occurred_at, payload)
            # A sale without ``total`` (sent before it was) is worth its lines.
            totals.paid(code, occurred_at, sale_payments({"total": str(value), **payload}), refund=False)
        else:
            totals.paid(code, occurred_at, _paid_back(payload, sales.get((code, sale_ref)), what, value), refund=True)
    return totals


def _priced(totals: _Totals, code: str, at: datetime, line: dict, quantity: Decimal, amount: Decimal) -> None:
    """A sold line's gross, discount and promotion by day (a line sent without them: its amount, nothing off)."""
    row = totals.of(PriceDay, code, timezone.localdate(at), line["sku"], line.get("promotion_id", ""))
    _add(row, "lines", 1)
    _add(row, "units", quantity)
    _add(row, "gross", Decimal(line.get("gross", amount)))
    _add(row, "discount", Decimal(line.get("discount", "0")))
    _add(row, "markdown_discount", Decimal(line.get("markdown_discount", "0")))


def _marked_down(totals: _Totals, code: str, at: datetime, payload: dict) -> None:
    """A sale's markdowns, each under its reason, the cashier and the approving manager. A line's own markdown
    took what it takes of what the line's promotion left, as at the till (pricing.services.Markdown); the rest of
    the lines' ``markdown_discount`` is the sale's own markdown, shared out over them."""
    key = (code, timezone.localdate(at), str(payload.get("cashier", ""))[:150], payload.get("markdown_approved_by", ""))
    shared = ZERO
    for line in payload["lines"]:
        taken = Decimal(line.get("markdown_discount", "0"))
        if "markdown" in line:
            asked = line["markdown"]
            # What the promotion left (a line whose markdown took nothing may carry no amounts: then nothing).
            before = Decimal(line.get("gross", "0")) - Decimal(line.get("discount", "0")) + taken
            own = min(_markdown(asked).taken_from(before), taken)
            _markdown_add(totals.of(MarkdownDay, *key, asked["reason"]), own)
            taken -= own
        shared += taken
    if "markdown" in payload:
        _markdown_add(totals.of(MarkdownDay, *key, payload["markdown"]["reason"]), shared)


def _markdown_add(row: dict, amount: Decimal) -> None:
    _add(row, "markdowns", 1)
    _add(row, "amount", amount)


def _markdown(asked: dict) -> Markdown:
    figure = "percent" if "percent" in asked else "amount"
    return Markdown(reason=asked["reason"], **{figure: Decimal(asked[figure])})


def _paid_back(payload: dict, sale: dict | None, what: str, value: Decimal) -> list[tuple[str, Decimal]]:
    """What a void or return paid back by method: its ``refunds``; from a branch that does not send them, a void
    pays the sale's payments back and a return its value by the sale's method."""
    if "refunds" in payload:
        return [(item["method"], Decimal(item["amount"])) for item in payload["refunds"]]
    if sale is None:
        return []
    if what == "voided":
        return sale_payments({"total": str(value), **sale})
    return [(sale.get("payment_method", CASH), value)] if value else []


def _rows_add(totals: _Totals) -> None:
    """Add the increments to the stored rows, a row created the first time (the cursors' locks make these
    branches' rows ours for now): one statement per table, no read of what is stored."""
    for model, keys in TABLES.items():
        names = ("branch", *keys)
        rows = [dict(zip(names, key, strict=True)) | values for key, values in totals.rows[model].items()]
        rows_accumulate(model, keys=names, rows=rows, highest=("lag_max_s",))


# Days of one branch's hours folded per transaction.
COMPACT_DAYS = 31
# The roll-ups kept per hour that are folded into one row per day past the horizon (those per SKU are not:
# SalesDay holds the same figures per day), and the fields keeping the largest value instead of the sum.
_FOLDED = {BranchHour: ("branch", "hour"), PaymentsHour: ("branch", "hour", "method")}
_HIGHEST = ("lag_max_s", "peak_events")


@only(Mode.CENTRAL)
def report_hours_compact(*, now: datetime) -> int:
    """Past REPORT_HOURLY_RETENTION_DAYS (whole days of the chain's time zone) delete the per-SKU hours and fold
    each day's branch and payment hours into one row at the day's midnight; returns how many rows went. Day
    figures do not change. Under the branch's roll-up cursor lock, the one a roll-up adds under, so a late event's
    figures are moved once. Safe to run twice: a day already in one row is left alone."""
    horizon = timezone.localdate(now) - timedelta(days=settings.REPORT_HOURLY_RETENTION_DAYS)
    cutoff = _midnight(horizon)
    gone = 0
    for code in RollupCursor.objects.order_by("branch").values_list("branch", flat=True):
        while True:
            with transaction.atomic():
                ids = list(SalesHour.objects.filter(branch=code, hour__lt=cutoff).values_list("id", flat=True)[:5000])
                gone += SalesHour.objects.filter(id__in=ids).delete()[0]
            if len(ids) < 5000:
                break
        for model, keys in _FOLDED.items():
            days = sorted(
                model.objects.filter(branch=code, hour__lt=cutoff)
                .annotate(day=TruncDate("hour", tzinfo=timezone.get_current_timezone()))
                .values(*keys[2:], "day")
                .annotate(rows=Count("id"))
                .filter(rows__gt=1)
                .values_list("day", flat=True)
                .distinct()
            )
            for start in range(0, len(days), COMPACT_DAYS):
                with transaction.atomic():
                    list(RollupCursor.objects.select_for_update().filter(branch=code).values_list("pk"))
                    gone += _days_fold(model, keys, code=code, days=days[start : start + COMPACT_DAYS])
    return gone


def _midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _days_fold(model, keys: tuple[str, ...], *, code: str, days: list) -> int:
    """Replace each day's hourly rows of ``model`` by one per key at its midnight; in the caller's transaction."""
    sums = [f.name for f in model._meta.concrete_fields if f.name not in (*keys, "id")]
    folded, removed = [], 0
    for day in days:
        start, end = _midnight(day), _midnight(day + timedelta(days=1))
        rows = model.objects.filter(branch=code, hour__gte=start, hour__lt=end)
        per_key: dict[tuple, dict] = {}
        for row in rows.values(*keys[2:], *sums):
            key = tuple(row.pop(name) for name in keys[2:])
            if "peak_events" in row:  # an hour's peak is its own count
                row["peak_events"] = row["peak_events"] or row["events"]
            into = per_key.setdefault(key, dict.fromkeys(sums, 0))
            for name, value in row.items():
                into[name] = max(into[name], value) if name in _HIGHEST else into[name] + value
        removed += rows.delete()[0]
        folded += [dict(zip(keys, (code, start, *key), strict=True)) | values for key, values in per_key.items()]
    rows_accumulate(model, keys=keys, rows=folded, highest=_HIGHEST)
    return removed - len(folded)


def report_hours_housekeeping(now: datetime) -> dict[str, int]:
    """The nightly housekeeping's step (registered by reports' AppConfig)."""
    return {"report_hours": report_hours_compact(now=now)}
