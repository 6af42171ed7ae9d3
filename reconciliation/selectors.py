"""Central only: what the managers' dashboard and the discrepancy API read."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from branches.models import Branch, BranchChangeFailure, Transfer
from cash.selectors import session_days, variances_by_register_day
from ecomarket.pages import FirstRows, first_rows
from inventory.models import Product
from reconciliation.models import (
    OPEN_STATUSES,
    BranchCheck,
    BranchLag,
    Discrepancy,
    DiscrepancyKind,
    OversellCase,
    ReconciliationRun,
)


def discrepancy_list(
    *, branch: str = "", kind: str = "", status: str = "", since: datetime | None = None
) -> QuerySet[Discrepancy]:
    """Discrepancies filtered as a manager asks; ``status=open`` means open or acknowledged (not yet dealt with)."""
    records = Discrepancy.objects.all()
    if branch:
        records = records.filter(branch_id=branch)
    if kind:
        records = records.filter(kind=kind)
    if status == "open":
        records = records.filter(status__in=OPEN_STATUSES)
    elif status:
        records = records.filter(status=status)
    if since:
        records = records.filter(last_changed_at__gte=since)
    return records.order_by("-first_detected_at", "-id")


def since_parse(value: str) -> datetime | None:
    """An ISO time or a date; a naive value is taken in the server's time zone. Raises ValueError."""
    if not value:
        return None
    parsed = parse_datetime(value) or (parse_datetime(f"{value}T00:00:00") if len(value) == 10 else None)
    if parsed is None:
        raise ValueError(f"{value!r} is not an ISO date or time")
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


def oversell_case_list(*, branch: str = "", status: str = "") -> QuerySet[OversellCase]:
    cases = OversellCase.objects.select_related("branch")
    if branch:
        cases = cases.filter(branch_id=branch)
    if status == "unresolved":
        cases = cases.exclude(status="resolved")
    elif status:
        cases = cases.filter(status=status)
    return cases.order_by("-created_at", "-id")


def branch_health(
    *, now: datetime | None = None, branch: str = "", open_by_kind: dict[str, dict[str, int]] | None = None
) -> list[dict]:
    """One row per branch (``branch`` alone if given), the branches that need a look first: a failed check, changes
    it could not apply, not heard from (never, or longer than RECONCILE_STALE_AFTER_S; a revoked branch is not
    expected to call), events behind, open discrepancies; then by code. A chain of hundreds of stores reads the top
    of this list, not all of it. ``open_by_kind``: what ``open_by_kind_and_branch`` answered, if the caller has it
    (the page shows both; one grouped query serves them)."""
    now = now or timezone.now()
    only = {"branch_id": branch} if branch else {}
    open_counts: dict[str, int] = {}
    for per_branch in (open_by_kind_and_branch() if open_by_kind is None else open_by_kind).values():
        for code, count in per_branch.items():
            open_counts[code] = open_counts.get(code, 0) + count
    failed_changes = dict(
        BranchChangeFailure.objects.filter(resolved_at__isnull=True, **only)
        .values("branch_id")
        .annotate(n=Count("id"))
        .values_list("branch_id", "n")
    )
    errors = {
        check.branch_id: check
        for check in BranchCheck.objects.filter(**only).exclude(error="").only("branch", "error", "error_at")
    }
    rows = [
        {
            "branch": row_branch,
            "check_error": errors[row_branch.code].error if row_branch.code in errors else "",
            "check_error_at": errors[row_branch.code].error_at if row_branch.code in errors else None,
            "silent": row_branch.silent(now),
            "lag": row_branch.lag,
            "pending_reported": row_branch.pending_reported,
            "open_discrepancies": open_counts.get(row_branch.code, 0),
            "failed_changes": failed_changes.get(row_branch.code, 0),
        }
        for row_branch in (Branch.objects.filter(code=branch) if branch else Branch.objects.all())
    ]
    rows.sort(key=lambda row: row["branch"].code)
    # Stable sort: branches needing the same attention stay in code order.
    rows.sort(key=_attention, reverse=True)
    return rows


def branch_releases() -> list[tuple[str, int]]:
    """How many branches (not revoked) run each release, as they named it on their latest push or pull ('': named
    none, older than the version header), newest release first. One grouped query: a chain upgrading store by store
    reads it from the dashboard's top, however many branches there are."""
    counts = (
        Branch.objects.filter(revoked_at__isnull=True)
        .values_list("software_version")
        .annotate(n=Count("code"))
        .order_by()
    )
    return sorted(counts, key=lambda row: _release_key(row[0]), reverse=True)


def _release_key(version: str) -> tuple:
    # 0.10.0 after 0.9.0: numbers compared as numbers; a part that is not one (a suffix) compares as text after them.
    if not version:
        return ()
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in version.split("."))


def _attention(row: dict) -> tuple:
    """How much a health row needs a look, most first when sorted in reverse."""
    return (
        bool(row["check_error"]),
        row["failed_changes"],
        row["silent"],
        row["lag"],
        row["open_discrepancies"],
    )


def open_by_kind_and_branch() -> dict[str, dict[str, int]]:
    """Open (or acknowledged) discrepancies counted per kind and branch: ``{kind: {branch: count}}``."""
    table: dict[str, dict[str, int]] = {}
    rows = Discrepancy.objects.filter(status__in=OPEN_STATUSES).values("kind", "branch_id").annotate(n=Count("id"))
    for row in rows:
        table.setdefault(row["kind"], {})[row["branch_id"]] = row["n"]
    return table


def discrepancies_per_day(*, days: int = 14) -> list[tuple[str, int]]:
    """Discrepancies first found on each of the last ``days`` days (the chain's time zone), oldest first. Selected by
    time, not by the day computed for every record: an index range, however long the history of records."""
    start = timezone.localdate() - timedelta(days=days - 1)
    counts = dict(
        Discrepancy.objects.filter(first_detected_at__gte=timezone.make_aware(datetime.combine(start, time.min)))
        .annotate(day=TruncDate("first_detected_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [((start + timedelta(days=i)).isoformat(), counts.get(start + timedelta(days=i), 0)) for i in range(days)]


# A chain of hundreds of stores cannot be one line each on one chart (500 lines of 48 dots were over a megabyte of
# the dashboard, docs/scale-runs.md "Ledger growth"): the chart shows the branches furthest behind.
LAG_CHART_BRANCHES = 10


def lag_history(*, runs: int = 48, branch: str = "") -> dict[str, list[tuple[str, int]]]:
    """Per branch (``branch`` alone if given, else the LAG_CHART_BRANCHES that were furthest behind in the window;
    none when no branch was behind), the event lag at the end of each recent reconciliation pass, oldest first.
    Read from the rows the passes kept for the branches behind (BranchLag): one grouped query picks the branches,
    one reads their points, whatever the size of the chain."""
    window = list(
        ReconciliationRun.objects.exclude(finished_at=None)
        .order_by("-started_at")[:runs]
        .values_list("id", "started_at")
    )[::-1]
    lags = BranchLag.objects.filter(run_id__in=[run_id for run_id, _ in window])
    codes = (
        [branch]
        if branch
        else list(
            lags.values("branch_id")
            .annotate(furthest=Max("events"))
            .order_by("-furthest", "branch_id")
            .values_list("branch_id", flat=True)[:LAG_CHART_BRANCHES]
        )
    )
    behind = {
        (run_id, code): events
        for run_id, code, events in lags.filter(branch_id__in=codes).values_list("run_id", "branch_id", "events")
    }
    labels = [(run_id, started_at.isoformat(timespec="minutes")) for run_id, started_at in window]
    return {code: [(label, behind.get((run_id, code), 0)) for run_id, label in labels] for code in codes}


CASH_KINDS = (DiscrepancyKind.CASH_MISMATCH, DiscrepancyKind.CASH_SESSION_OPEN)


def cash_variances(*, branch: str = "", days: int = 14, limit: int = 100) -> FirstRows:
    """The cash closes of the last ``days`` days per day, branch and register (``variances_by_register_day``, the
    first ``limit`` rows), each with the open cash findings (a Z that differs from the sales, a session left open)
    of its sessions, so a manager sees a variance and what head office thinks of it on one row."""
    since = timezone.localdate() - timedelta(days=days - 1)
    table = first_rows(variances_by_register_day(branch=branch, since=since), limit)
    findings = list(
        discrepancy_list(branch=branch, status="open")
        .filter(kind__in=CASH_KINDS)
        .only("id", "branch", "kind", "detail")
    )
    where = session_days(
        branch_sessions=[(f.branch_id, f.detail["session_id"]) for f in findings if f.detail.get("session_id")]
    )
    by_row: dict[tuple, list[Discrepancy]] = {}
    for finding in findings:
        if (day_register := where.get((finding.branch_id, finding.detail.get("session_id")))) is not None:
            day, register = day_register
            by_row.setdefault((day, finding.branch_id, register), []).append(finding)
    for row in table.rows:
        row["findings"] = by_row.get((row["day"], row["branch_id"], row["register"]), [])
    return table


def transfer_list(*, branch: str = "", differences: bool = False, limit: int = 100) -> FirstRows:
    """Transfers head office sent, newest first, each with its lines, and what the receiving branch said did not
    reach its shelf (short, damaged) beside them, every SKU with its product's name. ``branch``: sent to or from
    it; ``differences``: only those received with something short or damaged."""
    transfers = Transfer.objects.order_by("-created_at")
    if branch:
        transfers = transfers.filter(Q(to_branch=branch) | Q(from_branch=branch))
    if differences:
        transfers = transfers.filter(differences__isnull=False)
    shown = first_rows(transfers, limit)
    skus = {line["sku"] for transfer in shown.rows for line in transfer.lines}
    products = {
        sku: (name, unit) for sku, name, unit in Product.objects.filter(sku__in=skus).values_list("sku", "name", "unit")
    }
    for transfer in shown.rows:
        missing = {item["sku"]: item for item in transfer.differences or []}
        transfer.goods = [
            {
                "sku": line["sku"],
                "name": products.get(line["sku"], ("", ""))[0],
                "unit": products.get(line["sku"], ("", ""))[1],
                "sent": line["quantity"],
                # Zero is nothing to say: None.
                "short": Decimal(missing.get(line["sku"], {}).get("short", "0")) or None,
                "damaged": Decimal(missing.get(line["sku"], {}).get("damaged", "0")) or None,
            }
            for line in transfer.lines
        ]
    return shown
