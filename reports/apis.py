"""Central only: the head office reports as JSON for managers (the page and its CSV show the same rows)."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomarket.api import ERRORS
from ecomarket.errors import DomainError
from ecomarket.roles import IsManager
from reports import discounts, selectors


class ReportOutputSerializer(serializers.Serializer):
    report = serializers.CharField()
    filters = serializers.DictField()
    rows = serializers.ListField(child=serializers.DictField())
    rolled_up_at = serializers.DateTimeField(allow_null=True)
    events_not_rolled_up = serializers.IntegerField()


def report_filters(params) -> selectors.ReportFilters:
    try:
        return selectors.filters_parse(params)
    except selectors.FilterError as error:
        raise DomainError("invalid", str(error), fields={error.name: [str(error)]}) from error


PARAMETERS = [
    OpenApiParameter("from", str, description="first day, YYYY-MM-DD (default: 6 days before `to`)"),
    OpenApiParameter("to", str, description="last day, YYYY-MM-DD, inclusive (default: today)"),
    OpenApiParameter("branch", str, description="branch codes, comma-separated (default: all)"),
    OpenApiParameter("sku", str, description="SKUs, comma-separated (default: all)"),
    OpenApiParameter("grain", str, enum=list(selectors.GRAINS), description="sales per day or per hour"),
]


class ReportApi(APIView):
    permission_classes = [IsManager]
    report = ""
    reports = selectors.REPORTS  # where ``report`` is built

    def get(self, request):
        filters = report_filters(request.query_params)
        return Response(
            {
                "report": self.report,
                "filters": filters.query(),
                # Money and quantities as decimal strings, as everywhere in the API (never floats).
                "rows": [
                    {key: str(value) if isinstance(value, Decimal) else value for key, value in row.items()}
                    for row in self.reports[self.report](filters)
                ],
                **selectors.rollup_state(),
            }
        )


def _report_api(name: str, description: str, reports: dict = selectors.REPORTS) -> type[ReportApi]:
    """One view per report, so each has its own operation in the OpenAPI schema."""
    schema = extend_schema(
        operation_id=f"report_{name.replace('-', '_')}",
        parameters=PARAMETERS,
        responses={200: ReportOutputSerializer, **ERRORS},
        description=description,
    )

    def get(self, request):
        return ReportApi.get(self, request)

    attributes = {"report": name, "reports": reports, "get": schema(get)}
    return type(f"Report{name.title().replace('-', '')}Api", (ReportApi,), attributes)


SalesReportApi = _report_api(
    "sales", "Per branch and day (or hour): units and kg sold (apart), amount sold, voided, returned, net."
)
ProductsReportApi = _report_api("products", "Per SKU: quantity (in its unit) and amount sold, voided and returned.")
ReturnsVoidsReportApi = _report_api("returns-voids", "Per branch: void and return rates, by amount and tickets.")
PaymentsReportApi = _report_api(
    "payments",
    "Per branch, day (or hour) and payment method: sales paid with it, amount kept, paid back, net. Whole tickets: "
    "the product filter does not apply.",
)
StockReportApi = _report_api("stock", "Per branch, now: SKUs held, units and kg on hand (apart) and their value.")
SyncReportApi = _report_api("sync", "Per branch and hour: events received and their lag (mean, worst).")
DiscountsReportApi = _report_api(
    "discounts",
    "Per day, branch, SKU and promotion (none: empty): lines, units, gross, discount (of it `markdown_discount`, the "
    "till's markdowns) and net; every sold line counts, so a day's net is its sales.",
    discounts.REPORTS,
)
MarkdownsReportApi = _report_api(
    "markdowns",
    "Per branch, cashier, approving manager and reason: the markdowns and price overrides given at the till and what "
    "they took off. Whole sales: the product filter does not apply.",
    discounts.REPORTS,
)
