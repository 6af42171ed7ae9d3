"""Central only: the head office reports page and its CSV downloads (managers, web login)."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from branches.models import Branch
from ecomarket.pages import role_required
from ecomarket.roles import Role
from ecomarket.spreadsheets import csv_download
from reconciliation import charts
from reports import selectors

manager_required = role_required(Role.MANAGER)
PAGE_ROWS = 200


def _series(rows: list[dict], value: str) -> dict[str, list[tuple[str, object]]]:
    """Rows of (period, branch, value) as one series per branch over every period, zeros where it had none, so
    every line of a chart shares the same time axis."""
    periods = sorted({row["period"] for row in rows})
    by_branch: dict[str, dict[str, object]] = {}
    for row in rows:
        by_branch.setdefault(row["branch"], {})[row["period"]] = row[value]
    return {code: [(period, values.get(period, 0)) for period in periods] for code, values in by_branch.items()}


@require_GET
@manager_required
def reports_page(request):
    try:
        filters = selectors.filters_parse(request.GET)
        error = ""
    except selectors.FilterError as refusal:
        filters, error = selectors.filters_parse({}), str(refusal)
    report = {name: build(filters) for name, build in selectors.REPORTS.items()}
    context = {
        "filters": filters,
        "error": error,
        "query": "&".join(f"{key}={value}" for key, value in filters.query().items()),
        "branches": Branch.objects.order_by("code").values_list("code", flat=True),
        # A table of thousands of rows is read by nobody: the page shows the first PAGE_ROWS of each, the charts
        # show all of it, and the CSV (and the API) every row.
        "shown": {name: rows[:PAGE_ROWS] for name, rows in report.items()},
        "more": {
            name.replace("-", "_"): len(rows) - PAGE_ROWS for name, rows in report.items() if len(rows) > PAGE_ROWS
        },
        "page_rows": PAGE_ROWS,
        "returns_voids": report["returns-voids"][:PAGE_ROWS],
        "state": selectors.rollup_state(),
        "sales_chart": mark_safe(
            charts.line_chart(_series(report["sales"], "net_amount"), title=_("Net sales per branch"))
        ),
        "products_chart": mark_safe(
            charts.bar_chart(
                [(row["sku"], row["amount"]) for row in report["products"][:12]],
                title=_("Best-selling products (amount)"),
                label_from=0,
            )
        ),
        "events_chart": mark_safe(charts.line_chart(_series(report["sync"], "events"), title=_("Events received"))),
        "lag_chart": mark_safe(
            charts.line_chart(_series(report["sync"], "lag_mean_s"), title=_("Mean sync lag (seconds)"))
        ),
    }
    return render(request, "reports/reports.html", context)


@require_GET
@manager_required
def report_csv(request, report: str):
    build = selectors.REPORTS.get(report)
    if build is None:
        raise Http404(report)
    try:
        filters = selectors.filters_parse(request.GET)
    except selectors.FilterError as refusal:
        return HttpResponse(str(refusal), status=400, content_type="text/plain; charset=utf-8")
    columns = selectors.COLUMNS[report]
    return csv_download(
        filename=f"{report}-{filters.date_from}-{filters.date_to}.csv",
        columns=columns,
        rows=([row[column] for column in columns] for row in build(filters)),
    )
