"""Central only: the head office reports page and its CSV downloads (managers, web login)."""

from django.conf import settings
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from branches.models import Branch
from ecomarket.pages import role_required
from ecomarket.roles import Role
from ecomarket.spreadsheets import csv_download
from inventory.models import PaymentMethod, Product
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


METHOD_NAMES = dict(PaymentMethod.choices)

FILTERS = ("from", "to", "branch", "sku", "grain")
# What the page says about a filter it could not read, and what it shows instead (by FilterError.reason).
FILTER_PROBLEMS = {
    "not_a_date": gettext_lazy("“%(value)s” is not a date (YYYY-MM-DD): it was left out."),
    "from_after_to": gettext_lazy("The first day is after the last one: showing the week up to the last day."),
    "too_many_days": gettext_lazy("A report covers at most %(days)s days: showing the week up to the last day."),
    "not_a_grain": gettext_lazy("Sales are shown per day or per hour: showing them per day."),
    "too_many_hours": gettext_lazy("Per hour, a report covers at most %(hours)s days: showing sales per day."),
    "hours_folded": gettext_lazy("Per hour, reports reach back %(kept)s days: showing sales per day."),
    "too_many_codes": gettext_lazy("At most 200 codes of at most 32 characters: that filter was left out."),
}


def _filters(params: QueryDict) -> tuple[selectors.ReportFilters, list[str]]:
    """The filters asked for, and what the page must say about them. A filter that cannot be read is left out and
    the rest kept (a mistyped date still shows the branches and products chosen); one the page does not know, a
    branch or a product that does not exist, is said, never silently matched by nothing."""
    params = params.copy()
    problems = [
        _("There is no filter “%(name)s”: it was left out.") % {"name": name[:32]}
        for name in params
        if name not in FILTERS
    ]
    while True:
        try:
            filters = selectors.filters_parse(params)
            break
        except selectors.FilterError as refusal:
            values = {
                "value": params.get(refusal.name, "")[:32],
                "days": selectors.MAX_DAYS,
                "hours": selectors.MAX_HOURLY_DAYS,
                "kept": settings.REPORT_HOURLY_RETENTION_DAYS,
            }
            problems.append(FILTER_PROBLEMS[refusal.reason] % values)
            if refusal.name not in params:  # a default refused: nothing left out would help
                filters = selectors.filters_parse(QueryDict())
                break
            params.pop(refusal.name)  # one parameter fewer each time round: this ends
    known = set(Branch.objects.filter(code__in=filters.branches).values_list("code", flat=True))
    if unknown := [code for code in filters.branches if code not in known]:
        problems.append(_("No branch %(codes)s: nothing is shown for it.") % {"codes": ", ".join(unknown)})
    named = _product_names(filters.skus)
    if unknown := [sku for sku in filters.skus if sku not in named]:
        problems.append(_("No product with SKU %(codes)s: nothing is shown for it.") % {"codes": ", ".join(unknown)})
    return filters, problems


def _product_names(skus: list[str]) -> dict[str, str]:
    return dict(Product.objects.filter(sku__in=skus).values_list("sku", "name")) if skus else {}


@require_GET
@manager_required
def reports_page(request):
    filters, problems = _filters(request.GET)
    report = {name: build(filters) for name, build in selectors.REPORTS.items()}
    names = _product_names(filters.skus)
    context = {
        "filters": filters,
        "problems": problems,
        # The products chosen by SKU, by their names too: a person reads names.
        "chosen_products": [(sku, names[sku]) for sku in filters.skus if sku in names],
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
        # A method by its name in the reader's language; one the catalogue does not know (a newer till's) by its code.
        "payments": [
            {**row, "method_name": METHOD_NAMES.get(row["method"], row["method"])}
            for row in report["payments"][:PAGE_ROWS]
        ],
        "state": selectors.rollup_state(),
        "sales_chart": mark_safe(
            charts.line_chart(_series(report["sales"], "net_amount"), title=_("Net sales per branch"))
        ),
        "products_chart": mark_safe(
            charts.ranking_chart(
                [(row["name"] or row["sku"], row["sku"], row["amount"]) for row in report["products"][:12]],
                title=_("Best-selling products (amount)"),
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
