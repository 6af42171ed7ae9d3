"""Central only: the reconciliation checks, one a kind of finding (docs/architecture.md, "Reconciliation").

Each check looks at one branch, in the pass's transaction and under the branch's row lock (reconciliation/services.py
runs them), and flags what it finds or clears what it no longer finds through the pass's bookkeeping
(reconciliation/findings.py). What the count and oversell checks read (``snapshots_to_judge``,
``ledger_differences``, ``balances``) is read for many branches at once in a few queries: the pass's screen reads
it for every busy branch together, and a check for its one branch.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Min, OuterRef, Q, Subquery

from branches.change_feed import resend_request_create
from branches.ingest import accounted_seqs
from branches.models import Branch, BranchEvent, EventProblem
from branches.protocol import EventType
from cash.models import SessionRecord, Verdict
from cash.records import cash_expected, z_differences
from ecomarket.quantities import quantity, quantity_text
from inventory.models import MovementKind, StockLevel, StockMovement
from reconciliation.findings import (
    OVERSELL_SOURCES,
    ZERO,
    OpenDiscrepancies,
    OversellEpisode,
    PassState,
    oversell_case_upsert,
)
from reconciliation.models import BranchCheck, DiscrepancyKind, SeqWatch


def missing_events_check(*, branch: Branch, state: PassState) -> None:
    """A gap older than the grace period gets a resend request; still there a grace period later, a discrepancy."""
    now, findings = state.now, state.findings
    grace = timedelta(seconds=settings.RECONCILE_GAP_GRACE_S)
    discrepancies = state.discrepancies(branch, DiscrepancyKind.MISSING_EVENTS)
    if branch.max_seq_seen <= branch.high_water_seq and branch.code not in state.watched:
        discrepancies.clear(note="the missing events arrived")
        return
    missing: set[int] = set()
    if branch.max_seq_seen > branch.high_water_seq:
        accounted = accounted_seqs(branch, branch.high_water_seq)
        missing = set(range(branch.high_water_seq + 1, branch.max_seq_seen + 1)) - accounted
    SeqWatch.objects.filter(branch=branch).exclude(seq__in=missing).delete()
    known = set(SeqWatch.objects.filter(branch=branch).values_list("seq", flat=True))
    SeqWatch.objects.bulk_create([SeqWatch(branch=branch, seq=seq, first_seen_at=now) for seq in missing - known])
    due = SeqWatch.objects.filter(branch=branch, resend_requested_at__isnull=True, first_seen_at__lte=now - grace)
    due_seqs = sorted(due.values_list("seq", flat=True))
    if due_seqs:
        resend_request_create(branch=branch, seqs=due_seqs)
        due.update(resend_requested_at=now)
        findings.resend_requests += 1
    overdue = sorted(
        SeqWatch.objects.filter(branch=branch, resend_requested_at__lte=now - grace).values_list("seq", flat=True)
    )
    if overdue:
        discrepancies.flag(detail={"seqs": overdue[:1000], "count": len(overdue)})
    elif not missing:
        discrepancies.clear(note="the missing events arrived")


def rejected_events_check(*, branch: Branch, state: PassState) -> None:
    """Events central rejected leave a hole a manager must look at, until the event is stored after all (e.g.
    re-sent once the catalog caught up)."""
    problems = _event_problems(branch=branch, state=state, kind=EventProblem.Kind.REJECTED)
    # No query to build when there is nothing to look up (every branch, every pass, at 500 stores: docs/scale.md).
    ids = [p.event_id for p in problems]
    stored = set(BranchEvent.objects.filter(branch=branch, id__in=ids).values_list("id", flat=True)) if ids else set()
    _event_problems_flag(
        state.discrepancies(branch, DiscrepancyKind.REJECTED_EVENT), [p for p in problems if p.event_id not in stored]
    )


def conflicting_events_check(*, branch: Branch, state: PassState) -> None:
    """Events whose id or seq central already holds with another body: a manager must look at each."""
    problems = _event_problems(branch=branch, state=state, kind=EventProblem.Kind.CONFLICT)
    _event_problems_flag(state.discrepancies(branch, DiscrepancyKind.EVENT_CONFLICT), problems)


def _event_problems(*, branch: Branch, state: PassState, kind: str) -> list[EventProblem]:
    if branch.code not in state.with_problems:
        return []
    return list(EventProblem.objects.filter(branch=branch, kind=kind).order_by("seq"))


def _event_problems_flag(discrepancies: OpenDiscrepancies, problems: list[EventProblem]) -> None:
    if problems:
        discrepancies.flag(
            detail={
                "events": [
                    {"seq": p.seq, "event_id": str(p.event_id), "code": p.code, "why": p.detail[:300]} for p in problems
                ]
            }
        )
    else:
        discrepancies.clear(note="the events were stored after all")


def stale_branch_check(*, branch: Branch, state: PassState) -> None:
    """Silence from a branch is news; from a branch whose credential was revoked (closed, replaced) it is not."""
    discrepancies = state.discrepancies(branch, DiscrepancyKind.STALE_BRANCH)
    if branch.revoked_at is not None:
        discrepancies.clear(note="the branch's credential was revoked")
        return
    if branch.silent(state.now):
        since = branch.last_seen_at.isoformat() if branch.last_seen_at else None
        discrepancies.flag(detail={"last_seen_at": since})
    else:
        discrepancies.clear(note="the branch is in contact again")


def cash_mismatch_check(*, branch: Branch, state: PassState) -> None:
    """Each Z report against the sales, returns, voids and cash movements central holds for its session, judged
    only once central holds every seq up to the Z's ``last_seq`` (the high-water mark, as for counts: a late sale is
    never mistaken for a missing one). A Z that differs is judged again each pass, so the late event that explains
    it (a parked sale re-sent once its cause was fixed) clears it; one that agrees is settled."""
    discrepancies = state.discrepancies(branch, DiscrepancyKind.CASH_MISMATCH)
    for record in SessionRecord.objects.filter(
        branch=branch,
        verdict__in=[Verdict.PENDING, Verdict.MISMATCH],
        z_report__isnull=False,
        last_seq__lte=branch.high_water_seq,
    ):
        key = f"{record.register} Z{record.z_number}"
        differences = z_differences(record=record)
        if differences:
            discrepancies.flag(
                sku=key,
                expected=cash_expected(record),
                actual=record.expected_cash,
                detail={"session_id": str(record.session_id), "register": record.register, "differences": differences},
            )
        else:
            discrepancies.clear(key, note="the Z agrees with the sales, returns and voids head office holds")
        verdict = Verdict.MISMATCH if differences else Verdict.AGREES
        if record.verdict != verdict:
            record.verdict, record.judged_at = verdict, state.now
            record.save(update_fields=["verdict", "judged_at"])


def cash_session_open_check(*, branch: Branch, state: PassState) -> None:
    """A register whose session stays open past CASH_SESSION_OPEN_MAX_S: nobody closed the drawer (or its Z has
    not reached head office)."""
    discrepancies = state.discrepancies(branch, DiscrepancyKind.CASH_SESSION_OPEN)
    threshold = state.now - timedelta(seconds=settings.CASH_SESSION_OPEN_MAX_S)
    for record in SessionRecord.objects.filter(branch=branch, z_report__isnull=True, opened_at__lt=threshold):
        discrepancies.flag(
            sku=record.register,
            detail={"session_id": str(record.session_id), "opened_at": record.opened_at.isoformat()},
        )
    discrepancies.clear_unseen(note="the session was closed")


def cash_due(*, now) -> set[str]:
    """The branches the cash checks have something to look at: a Z not judged yet or that differed, a session open
    past the threshold."""
    threshold = now - timedelta(seconds=settings.CASH_SESSION_OPEN_MAX_S)
    due = SessionRecord.objects.filter(
        Q(z_report__isnull=False, verdict__in=[Verdict.PENDING, Verdict.MISMATCH])
        | Q(z_report__isnull=True, opened_at__lt=threshold)
    )
    return set(due.values_list("branch_id", flat=True).distinct())


def count_mismatch_check(*, branch: Branch, state: PassState, check: BranchCheck, since: int | None) -> None:
    """The newest snapshot central can judge (every event up to it stored) against central's ledger up to it
    (``snapshots_to_judge``, ``ledger_differences``). Records the snapshot judged in ``check.snapshot_seq``."""
    snapshot = snapshots_to_judge([(branch, check, since)]).get(branch.code)
    if snapshot is None:
        return
    check.snapshot_seq = snapshot.seq
    discrepancies = state.discrepancies(branch, DiscrepancyKind.COUNT_MISMATCH)
    for sku, (central, reported) in sorted(ledger_differences({branch.code: snapshot})[branch.code].items()):
        discrepancies.flag(
            sku=sku,
            expected=central,
            actual=reported,
            detail={"snapshot_seq": snapshot.seq, "as_of_seq": snapshot.as_of, "difference": str(reported - central)},
        )
    discrepancies.clear_unseen(note=f"snapshot #{snapshot.seq} agrees with central's ledger")


@dataclass(frozen=True)
class Snapshot:
    """A branch's stock snapshot to judge: its events (one, or its parts by SKU range), its seq (its last part's),
    and the seq whose stock its levels are."""

    ids: tuple[uuid.UUID, ...]
    seq: int
    as_of: int


def snapshots_to_judge(looks: Iterable[tuple[Branch, BranchCheck, int | None]]) -> dict[str, Snapshot]:
    """For each (branch, its check, the mark the pass looked at it up to: None for a whole look), the newest snapshot
    central can judge, if it has yet to judge it: every event up to its ``as_of_seq`` is stored (a late event may
    still explain a difference otherwise), and it is not the one judged last, unless an event at or below its
    ``as_of_seq`` arrived since (a parked event re-sent after its cause was fixed changes the verdict). The levels
    (thousands of them) are not read here. Two queries, however many branches."""
    looks = {branch.code: (branch, check, since) for branch, check, since in looks}
    if not looks:
        return {}
    newest = (
        BranchEvent.objects.filter(
            branch=OuterRef("pk"), type=EventType.STOCK_SNAPSHOT, seq__lte=OuterRef("high_water_seq") + 1
        )
        .order_by("-seq")
        .values("pk")[:1]
    )
    rows = BranchEvent.objects.filter(
        pk__in=Branch.objects.filter(pk__in=list(looks)).values(snapshot=Subquery(newest))
    ).values_list("branch_id", "id", "seq", "payload__as_of_seq", "payload__parts")
    snapshots = {}
    for code, id_, seq, as_of, parts in rows:
        if as_of > looks[code][0].high_water_seq:
            continue
        snapshot = Snapshot(ids=(id_,), seq=seq, as_of=as_of) if parts is None else _parts_all(code, as_of, parts)
        if snapshot is not None:
            snapshots[code] = snapshot
    judged = {
        code: (looks[code][2], snapshot.as_of)
        for code, snapshot in snapshots.items()
        if looks[code][2] is not None and looks[code][1].snapshot_seq == snapshot.seq
    }
    if judged:
        where, params = _any_of("branch = %s AND ingest_mark > %s AND seq <= %s", judged)
        late = {code for (code,) in _rows(f"SELECT DISTINCT branch FROM {_table(BranchEvent)} WHERE {where}", params)}
        snapshots = {code: s for code, s in snapshots.items() if code not in judged or code in late}
    return snapshots


def _parts_all(code: str, as_of: int, parts: int) -> Snapshot | None:
    """A snapshot written in parts (the events right after its ``as_of_seq``), once central holds every part: until
    then it is not judged, since the SKUs of a missing part would look like stock gone."""
    held = list(
        BranchEvent.objects.filter(
            branch=code, type=EventType.STOCK_SNAPSHOT, seq__gt=as_of, seq__lte=as_of + parts, payload__as_of_seq=as_of
        ).values_list("id", flat=True)
    )
    return Snapshot(ids=tuple(held), seq=as_of + parts, as_of=as_of) if len(held) == parts else None


def ledger_differences(snapshots: dict[str, Snapshot]) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """{branch: {sku: (central's ledger, the snapshot)}} where the two differ, for each branch's snapshot (all its
    parts), central's ledger summed up to the snapshot's ``as_of_seq``. Two queries, however many branches."""
    if not snapshots:
        return {}
    levels: dict[str, list] = {code: [] for code in snapshots}
    for code, part_levels in BranchEvent.objects.filter(
        pk__in=[id_ for s in snapshots.values() for id_ in s.ids]
    ).values_list("branch_id", "payload__levels"):
        levels[code] += part_levels
    where, params = _any_of("branch = %s AND seq <= %s", {code: (s.as_of,) for code, s in snapshots.items()})
    ledgers: dict[str, dict] = {code: {} for code in snapshots}
    for code, sku, total in _rows(
        f"SELECT branch, sku, SUM(quantity) FROM {_table(StockMovement)} WHERE {where} GROUP BY branch, sku", params
    ):
        ledgers[code][sku] = total
    differences = {}
    for code, ledger in ledgers.items():
        reported = {level["sku"]: Decimal(level["on_hand"]) for level in levels[code]}
        differences[code] = {
            sku: (quantity(ledger.get(sku)), quantity(reported.get(sku)))
            for sku in reported.keys() | ledger.keys()
            if quantity(ledger.get(sku)) != quantity(reported.get(sku))
        }
    return differences


def oversell_check(*, branch: Branch, state: PassState, since: int | None) -> None:
    """A running balance below zero: sales were made from stock the branch did not have. While it is below zero
    now, the (branch, SKU) has an oversell discrepancy (auto-resolved when stock is back); whenever it went below
    zero since the last pass, even if it recovered before this pass or within one batch, an OversellCase names
    the sales of that episode, which only a person closes."""
    discrepancies = state.discrepancies(branch, DiscrepancyKind.OVERSELL)
    moved = balances({branch.code: since})[branch.code]
    for sku, (lowest, on_hand) in sorted(moved.items()):
        if lowest >= 0:
            continue
        episode = _oversell_episodes(branch=branch, sku=sku, since=since)
        case = oversell_case_upsert(
            state=state, branch=branch, sku=sku, episode=episode, sales=_episode_sales(episode=episode)
        )
        if on_hand < 0:
            listed = len(case.sales) if case else 0
            discrepancies.flag(
                sku=sku, expected=ZERO, actual=on_hand, detail={"source": episode.source, "sales": listed}
            )
    discrepancies.clear_unseen(note="stock is back at or above zero", within=set(moved))


# The running balance of each SKU a pass looks at, in seq order: its lowest point from the first seq that arrived
# since the last pass (a late event moves every balance after it), and where it stands now. Plain SQL window
# functions, which PostgreSQL and SQLite both run; on PostgreSQL they read the covering (branch, sku, seq)
# index of the ledger alone, already in order.
_BALANCES_SQL = """
SELECT branch, sku, MIN(balance), SUM(quantity) FROM (
    SELECT branch, sku, quantity,
        SUM(quantity) OVER (PARTITION BY branch, sku ORDER BY seq ROWS UNBOUNDED PRECEDING) AS balance
    FROM {movements} WHERE branch = %s
) w GROUP BY branch, sku
"""
# An incremental pass reads only the tail of each touched SKU's ledger, from its first new seq on, and walks it
# back from where the balance stands now (the on-hand projection, written in the ledger's transaction and read in
# the same snapshot): the balance after a row is on_hand less what came after it. For many branches at once, each
# with the mark the pass last looked at it up to.
_BALANCES_SINCE_SQL = """
WITH fresh AS (
    SELECT branch, seq FROM {events} WHERE {fresh}
), touched AS (
    SELECT m.branch, m.sku, MIN(m.seq) AS since_seq
    FROM fresh e JOIN {movements} m ON m.branch = e.branch AND m.seq = e.seq
    GROUP BY m.branch, m.sku
), tail AS (
    SELECT m.branch, m.sku, m.seq, m.quantity FROM {movements} m JOIN touched t ON t.branch = m.branch AND t.sku = m.sku
    WHERE m.seq >= t.since_seq
)
SELECT w.branch, w.sku, MIN(l.on_hand - w.after), l.on_hand
FROM (
    SELECT branch, sku, COALESCE(SUM(quantity) OVER (
        PARTITION BY branch, sku ORDER BY seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ), 0) AS after
    FROM tail
) w JOIN {levels} l ON l.branch = w.branch AND l.sku = w.sku
GROUP BY w.branch, w.sku, l.on_hand
"""


def balances(marks: dict[str, int | None]) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """{branch: {sku: (lowest running balance since the first new seq, balance now)}} for the SKUs each branch moved
    since its mark in ``marks`` (every SKU, over its whole ledger, for a branch whose mark is None). One query for
    the branches with a mark, however many, and one for each without. SQLite answers the sums as floats:
    ``quantity`` puts them back on the ledger's three decimals."""
    names = {"movements": _table(StockMovement), "events": _table(BranchEvent), "levels": _table(StockLevel)}
    queries = [(_BALANCES_SQL.format(**names), [code]) for code, since in marks.items() if since is None]
    since = {code: (mark,) for code, mark in marks.items() if mark is not None}
    if since:
        where, params = _any_of("branch = %s AND ingest_mark > %s", since)
        queries.append((_BALANCES_SINCE_SQL.format(fresh=where, **names), params))
    found: dict[str, dict] = {code: {} for code in marks}
    for sql, params in queries:
        for code, sku, lowest, now in _rows(sql, params):
            found[code][sku] = (quantity(lowest), quantity(now))
    return found


def _any_of(condition: str, rows: dict[str, tuple]) -> tuple[str, list]:
    """``condition`` (on a branch, then the row's values) for any of ``rows`` ({branch: values}), ORed, and its
    parameters. Each branch's own constants let PostgreSQL estimate each arm and read each through an index (a
    join on a VALUES list of (branch, mark) was planned as a scan of the branches' whole ledger; docs/benchmarks.md,
    "Figures behind choices in the code")."""
    params = [param for branch, values in rows.items() for param in (branch, *values)]
    return " OR ".join([f"({condition})"] * len(rows)), params


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _oversell_episodes(*, branch: Branch, sku: str, since: int | None) -> OversellEpisode:
    """The episodes since the pass last looked (``since``: its ingest mark; None: the whole ledger), as one: the
    current one (the last, since the balance last stood at or above zero), which gives its start and source, and
    the sales of every episode that ended at or after the first seq that arrived since. A store back from a day
    offline may have sold below zero in the morning, been restocked, and sold below zero again in the evening:
    both customers are followed up. Every sale in an episode sold goods that were not there (the part of its
    quantity below zero); its source is what took the balance below."""
    from_seq = 0 if since is None else _first_fresh_seq(branch=branch, sku=sku, since=since)
    balance, episodes, current = ZERO, [], None
    rows = StockMovement.objects.filter(branch=branch.code, product_id=sku).order_by("seq")
    for seq, moved, kind, reference in rows.values_list("seq", "quantity", "kind", "reference"):
        before, balance = balance, balance + moved
        if balance >= 0:
            if current is not None:
                current.end_seq, current = seq, None
            continue
        if before >= 0:
            current = OversellEpisode(start_seq=seq, source=OVERSELL_SOURCES.get(kind, kind))
            episodes.append(current)
        current.deepest = max(current.deepest, -balance)
        if kind == MovementKind.SALE:
            current.sales[reference] = (seq, -moved, min(-moved, -balance) if before >= 0 else -moved)
    last = episodes[-1]
    for episode in episodes[:-1]:
        if episode.end_seq >= from_seq:
            last.sales = {**episode.sales, **last.sales}
            last.deepest = max(last.deepest, episode.deepest)
    return last


def _first_fresh_seq(*, branch: Branch, sku: str, since: int) -> int:
    """The lowest seq of ``sku``'s movements whose event central stored after ingest mark ``since``."""
    fresh = BranchEvent.objects.filter(branch=branch, ingest_mark__gt=since).values("seq")
    first = StockMovement.objects.filter(branch=branch.code, product_id=sku, seq__in=fresh).aggregate(first=Min("seq"))
    return first["first"] if first["first"] is not None else 0


def _episode_sales(*, episode: OversellEpisode) -> list[dict]:
    """The sales of an episode as an OversellCase lists them, in seq order, with what their events say."""
    events = {str(e.id): e for e in BranchEvent.objects.filter(id__in=list(episode.sales))}
    sales = []
    for reference, (seq, sold, short) in sorted(episode.sales.items(), key=lambda item: item[1][0]):
        event = events.get(reference)
        payload = event.payload if event else {}
        sales.append(
            {
                "sale_id": payload.get("sale_id", reference),
                "number": payload.get("number"),
                "seq": seq,
                "occurred_at": event.occurred_at.isoformat() if event else None,
                "quantity": quantity_text(sold),
                "oversold": quantity_text(short),
                "cashier": payload.get("cashier", ""),
            }
        )
    return sales
