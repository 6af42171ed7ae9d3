"""Central only: the managers' dashboard (server-rendered, offline-safe)."""

import csv
import re
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from branches.models import Branch
from ecomarket.pages import first_rows, redirect_back, role_required
from ecomarket.roles import Role
from reconciliation import charts, selectors, services
from reconciliation.apis import DiscrepancyOutputSerializer
from reconciliation.contacts import oversell_customers
from reconciliation.models import DiscrepancyKind, DiscrepancyStatus, OversellResolution

manager_required = role_required(Role.MANAGER)


def _filters(request) -> dict:
    params = request.GET
    return {
        "branch": params.get("branch", ""),
        "kind": params.get("kind", "") if params.get("kind", "") in DiscrepancyKind.values else "",
        "status": params.get("status", "open")
        if params.get("status", "open") in ["open", "", *DiscrepancyStatus.values]
        else "open",
    }


@require_GET
@manager_required
def dashboard(request):
    filters = _filters(request)
    records = first_rows(selectors.discrepancy_list(**filters), 500)
    cases = first_rows(selectors.oversell_case_list(branch=filters["branch"], status="unresolved"), 200)
    customers = oversell_customers(cases.rows)
    for case in cases.rows:  # shown with its sale, on this managers-only page (never stored back)
        for sale in case.sales:
            sale["customer"] = customers.get(sale.get("sale_id"))
    context = {
        "filters": filters,
        "branches": Branch.objects.order_by("code"),
        "kinds": DiscrepancyKind.choices,
        "statuses": [("open", _("open or acknowledged")), *DiscrepancyStatus.choices, ("", _("all"))],
        "health": selectors.branch_health(),
        "by_kind": {DiscrepancyKind(kind).label: row for kind, row in selectors.open_by_kind_and_branch().items()},
        "discrepancies": records,
        "cases": cases,
        "resolutions": OversellResolution.choices,
        "per_day_chart": mark_safe(
            charts.bar_chart(selectors.discrepancies_per_day(), title=_("Discrepancies found per day"))
        ),
        "lag_chart": mark_safe(charts.line_chart(selectors.lag_history(), title=_("Sync lag (events) per branch"))),
    }
    return render(request, "reconciliation/dashboard.html", context)


# A number as the API writes it ("-5.000"): a spreadsheet reads it as a number, not a formula.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _cell(value, *, decimal_comma: bool) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a note starting with "=", "+", "-", "@", a tab or a
    carriage return gets a leading "'" and stays text); numbers keep their sign, with a decimal comma in Spanish."""
    text = "" if value is None else str(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text.replace(".", ",") if decimal_comma and isinstance(value, Decimal) else text
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# The API's fields, less the nested ones a spreadsheet cannot hold.
CSV_COLUMNS = [name for name in DiscrepancyOutputSerializer.Meta.fields if name not in ("detail", "actions")]


class _Line:
    """csv.writer writes to this and gets the line back, so each row can be streamed as soon as it is made."""

    def write(self, line: str) -> str:
        return line


@require_GET
@manager_required
def discrepancies_csv(request):
    """Every discrepancy the filters match, streamed row by row (no size limit, little memory). UTF-8 with a BOM so
    spreadsheets detect the encoding; in Spanish ";" between cells and a decimal comma, as a Spanish-locale
    spreadsheet expects (its "," is the decimal separator)."""
    spanish = get_language().startswith("es")
    writer = csv.writer(_Line(), delimiter=";" if spanish else ",")
    records = selectors.discrepancy_list(**_filters(request))

    def rows():
        yield "\ufeff" + writer.writerow(CSV_COLUMNS)
        for record in records.iterator(chunk_size=2000):
            values = [getattr(record, "branch_id" if column == "branch" else column) for column in CSV_COLUMNS]
            yield writer.writerow([_cell(value, decimal_comma=spanish) for value in values])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="discrepancies.csv"'
    return response


@require_POST
@manager_required
def discrepancy_act(request, discrepancy_id: int):
    delta = None
    if request.POST.get("delta"):
        try:
            delta = Decimal(request.POST["delta"])
        except InvalidOperation:
            messages.error(request, _("The adjustment must be a number."))
            return redirect_back(request, "dashboard")
    try:
        services.discrepancy_act(
            discrepancy_id=discrepancy_id,
            action=request.POST.get("action", ""),
            user=request.user,
            note=request.POST.get("note", "").strip(),
            delta=delta,
        )
        messages.success(request, _("Discrepancy %(id)s updated.") % {"id": discrepancy_id})
    except services.ActionRefused as refusal:
        messages.error(request, str(refusal))
    return redirect_back(request, "dashboard")


@require_POST
@manager_required
def oversell_case_act(request, case_id: int):
    try:
        services.oversell_case_act(
            case_id=case_id,
            action=request.POST.get("action", ""),
            user=request.user,
            note=request.POST.get("note", "").strip(),
            resolution=request.POST.get("resolution", ""),
        )
        messages.success(request, _("Oversell case %(id)s updated.") % {"id": case_id})
    except services.ActionRefused as refusal:
        messages.error(request, str(refusal))
    return redirect_back(request, "dashboard")
