"""Central only: folding branch events into the report roll-ups (see reports/models.py)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from branches.models import Branch, BranchEvent
from branches.protocol import EventType
from ecomarket.modes import Mode, only
from inventory.quantities import money
from reports.models import BranchHour, RollupCursor, SalesDay, SalesHour

CHUNK = 5000  # events per transaction: a long backlog is folded in short transactions, never one huge one
ZERO = Decimal("0")


# Each roll-up table and the fields that key its rows (besides the branch).
TABLES = {SalesHour: ("hour", "sku"), SalesDay: ("day", "sku"), BranchHour: ("hour",)}


@dataclass
class _Totals:
    """The increments one chunk adds to the roll-up rows: per table, per key, per field."""

    rows: dict[type, dict[tuple, dict]] = field(default_factory=lambda: {model: {} for model in TABLES})

    def of(self, model, *key) -> dict:
        return self.rows[model].setdefault(key, {})

    def line(self, at: datetime, sku: str, what: str, quantity: Decimal, amount: Decimal) -> None:
        """One line sold, voided or returned (``what``), counted per SKU by hour and by day, and per branch."""
        hour = _hour(at)
        for row in (self.of(SalesHour, hour, sku), self.of(SalesDay, timezone.localdate(at), sku)):
            _add(row, f"{what}_units", quantity)
            _add(row, f"{what}_amount", amount)
        if what == "sold":
            _add(self.of(BranchHour, hour), "sold_units", quantity)
        _add(self.of(BranchHour, hour), f"{what}_amount", amount)


def _add(row: dict, name: str, value) -> None:
    row[name] = row.get(name, 0) + value


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _prices(payload: dict) -> dict[str, Decimal]:
    return {line["sku"]: Decimal(line["unit_price"]) for line in payload.get("lines", [])}


@only(Mode.CENTRAL)
def report_rollup_refresh(*, branch: str = "") -> int:
    """Fold every branch's (or one branch's) new events into the roll-ups; returns how many events were folded.
    Safe to run twice and concurrently: each chunk moves its branch's cursor in the same transaction as the rows
    it adds, under that cursor's row lock, so an event is counted exactly once."""
    codes = [branch] if branch else list(Branch.objects.order_by("code").values_list("code", flat=True))
    folded = 0
    for code in codes:
        while True:
            count = _chunk_fold(code)
            folded += count
            if count < CHUNK:
                break
    return folded


def _chunk_fold(code: str) -> int:
    RollupCursor.objects.bulk_create([RollupCursor(branch=code)], ignore_conflicts=True)
    with transaction.atomic():
        cursor = RollupCursor.objects.select_for_update().get(branch=code)
        # Only below the high-water mark: every event there is stored, so a void always finds its sale and a late
        # event is never skipped by a cursor that already moved past it.
        high_water = Branch.objects.values_list("high_water_seq", flat=True).get(code=code)
        upto = min(high_water, cursor.rolled_seq + CHUNK)
        if upto <= cursor.rolled_seq:
            return 0
        events = list(
            BranchEvent.objects.filter(branch_id=code, seq__gt=cursor.rolled_seq, seq__lte=upto)
            .order_by("seq")
            .values_list("type", "occurred_at", "received_at", "payload", "sale_ref")
        )
        totals = _fold(code, events)
        _rows_add(code, totals)
        cursor.rolled_seq = upto
        cursor.rolled_at = timezone.now()
        cursor.save(update_fields=["rolled_seq", "rolled_at"])
    return len(events)


def _fold(code: str, events: list) -> _Totals:
    referred = {
        sale_ref for type_, *_, sale_ref in events if type_ in (EventType.SALE_VOIDED, EventType.RETURN_COMPLETED)
    }
    sales = {
        sale_ref: payload
        for sale_ref, payload in BranchEvent.objects.filter(
            branch_id=code, type=EventType.SALE_COMPLETED, sale_ref__in=referred
        ).values_list("sale_ref", "payload")
    }
    totals = _Totals()
    for type_, occurred_at, received_at, payload, sale_ref in events:
        row = totals.of(BranchHour, _hour(occurred_at))
        lag = max((received_at - occurred_at).total_seconds(), 0.0)
        _add(row, "events", 1)
        _add(row, "lag_total_s", lag)
        row["lag_max_s"] = max(row.get("lag_max_s", 0.0), lag)
        if type_ == EventType.SALE_COMPLETED:
            _add(row, "sales", 1)
            for line in payload["lines"]:
                quantity = Decimal(line["quantity"])
                totals.line(occurred_at, line["sku"], "sold", quantity, money(quantity * Decimal(line["unit_price"])))
        elif type_ == EventType.SALE_VOIDED:
            _add(row, "voids", 1)
            sale = sales.get(sale_ref)
            for line in sale["lines"] if sale else []:
                quantity = Decimal(line["quantity"])
                totals.line(occurred_at, line["sku"], "voided", quantity, money(quantity * Decimal(line["unit_price"])))
        elif type_ == EventType.RETURN_COMPLETED:
            _add(row, "returns", 1)
            prices = _prices(sales.get(sale_ref) or {})
            for line in payload["lines"]:
                quantity = Decimal(line["quantity"])
                totals.line(
                    occurred_at, line["sku"], "returned", quantity, money(quantity * prices.get(line["sku"], ZERO))
                )
    return totals


def _rows_add(code: str, totals: _Totals) -> None:
    """Add the increments to the stored rows (the cursor's lock makes this branch's rows ours for now)."""
    for model, keys in TABLES.items():
        increments = totals.rows[model]
        if not increments:
            continue
        stored = {
            tuple(getattr(row, name) for name in keys): row
            for row in model.objects.filter(branch=code, **{f"{keys[0]}__in": {key[0] for key in increments}})
        }
        changed, new = [], []
        for key, values in increments.items():
            row = stored.get(key)
            if row is None:
                row = model(branch=code, **dict(zip(keys, key, strict=True)))
                new.append(row)
            else:
                changed.append(row)
            for name, value in values.items():
                if name == "lag_max_s":
                    row.lag_max_s = max(row.lag_max_s, value)
                else:
                    setattr(row, name, getattr(row, name) + value)
        names = sorted({name for values in increments.values() for name in values})
        if changed:
            model.objects.bulk_update(changed, names, batch_size=1000)
        model.objects.bulk_create(new, batch_size=1000)
