"""Central only: the discrepancy and oversell API for managers (docs/architecture.md, "The HTTP API")."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomarket.api import ERRORS, cursor_page, input_valid, whole_number
from ecomarket.errors import DomainError
from ecomarket.roles import IsManager
from inventory.serializers import QuantityField
from reconciliation import actions, selectors
from reconciliation.contacts import oversell_customers
from reconciliation.models import (
    CaseAction,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    OversellCase,
    OversellResolution,
    OversellStatus,
)


class CaseActionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaseAction
        fields = ["action", "actor", "at", "note", "data"]


class DiscrepancyOutputSerializer(serializers.ModelSerializer):
    branch = serializers.CharField(source="branch_id")
    actions = CaseActionOutputSerializer(many=True)

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "branch",
            "sku",
            "kind",
            "status",
            "expected",
            "actual",
            "detail",
            "first_detected_at",
            "last_changed_at",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "actions",
        ]


class OversellCaseOutputSerializer(serializers.ModelSerializer):
    """``sales[].customer`` is the contact the till took, while it is kept (reconciliation/contacts.py); the
    caller passes them as ``context["customers"]``."""

    branch = serializers.CharField(source="branch_id")
    actions = CaseActionOutputSerializer(many=True)
    sales = serializers.SerializerMethodField()

    def get_sales(self, case) -> list[dict]:
        customers = self.context.get("customers", {})
        return [
            {**sale, **({"customer": customers[sale["sale_id"]]} if sale.get("sale_id") in customers else {})}
            for sale in case.sales
        ]

    class Meta:
        model = OversellCase
        fields = [
            "id",
            "branch",
            "sku",
            "status",
            "resolution",
            "shortfall",
            "source",
            "sales",
            "note",
            "created_at",
            "updated_at",
            "actions",
        ]


# What a manager sends to act on a record: read by the API and by the dashboard's forms (reconciliation/views.py).
class DiscrepancyActInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["acknowledge", "resolve", "adjust_stock", "request_recount", "comment"])
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)
    sku = serializers.CharField(max_length=32, required=False, default="", allow_blank=True, trim_whitespace=False)
    delta = QuantityField(required=False)


class OversellCaseActInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["contact", "resolve"])
    # Blank as the dashboard's form sends it with "contact"; "resolve" without one is refused by the action.
    resolution = serializers.ChoiceField(
        choices=OversellResolution.choices, required=False, default="", allow_blank=True
    )
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


def _get(model, pk: str):
    number = whole_number(pk)
    record = model.objects.filter(pk=number).first() if number is not None else None
    if record is None:
        raise DomainError("not_found", f"No {model._meta.verbose_name} {pk}.", status=status.HTTP_404_NOT_FOUND)
    return record


class DiscrepancyListApi(ListAPIView):
    permission_classes = [IsManager]
    serializer_class = DiscrepancyOutputSerializer
    pagination_class = cursor_page("-id")  # newest first, as first_detected_at; one pass stamps many alike

    @extend_schema(
        operation_id="discrepancy_list",
        parameters=[
            OpenApiParameter("branch", str),
            OpenApiParameter("kind", str, enum=DiscrepancyKind.values),
            OpenApiParameter("status", str, enum=["open", *DiscrepancyStatus.values]),
            OpenApiParameter("since", str, description="ISO date or time: changed since then"),
        ],
        responses={200: DiscrepancyOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        try:
            since = selectors.since_parse(params.get("since", ""))
        except ValueError as error:
            raise DomainError("invalid", str(error), fields={"since": [str(error)]}) from error
        for name, allowed in (("kind", DiscrepancyKind.values), ("status", ["open", *DiscrepancyStatus.values])):
            if params.get(name) and params[name] not in allowed:
                raise DomainError(
                    "invalid", f"{name} must be one of {', '.join(allowed)}.", fields={name: ["Invalid."]}
                )
        return selectors.discrepancy_list(
            branch=params.get("branch", ""), kind=params.get("kind", ""), status=params.get("status", ""), since=since
        ).prefetch_related("actions")


class DiscrepancyActApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="discrepancy_act",
        request=DiscrepancyActInputSerializer,
        responses={200: DiscrepancyOutputSerializer, **ERRORS},
        description="Acknowledge, resolve (with a note), adjust stock at the branch (through the change feed), "
        "request a recount, or comment. Recorded with who and when.",
    )
    def patch(self, request, discrepancy_id):
        record = _get(Discrepancy, discrepancy_id)
        data = input_valid(DiscrepancyActInputSerializer, request)
        record = actions.discrepancy_act(discrepancy_id=record.pk, user=request.user, **data)
        return Response(DiscrepancyOutputSerializer(record).data)


class OversellCaseListApi(ListAPIView):
    permission_classes = [IsManager]
    serializer_class = OversellCaseOutputSerializer
    pagination_class = cursor_page("-id")

    @extend_schema(
        operation_id="oversell_case_list",
        parameters=[
            OpenApiParameter("branch", str),
            OpenApiParameter("status", str, enum=["unresolved", *OversellStatus.values]),
        ],
        responses={200: OversellCaseOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.oversell_case_list(
            branch=params.get("branch", ""), status=params.get("status", "")
        ).prefetch_related("actions")

    def get_serializer(self, *args, **kwargs):
        if args:  # the page of cases being shown: their sales' contacts, read once for the page
            kwargs["context"] = {**self.get_serializer_context(), "customers": oversell_customers(args[0])}
        return super().get_serializer(*args, **kwargs)


class OversellCaseActApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="oversell_case_act",
        request=OversellCaseActInputSerializer,
        responses={200: OversellCaseOutputSerializer, **ERRORS},
    )
    def patch(self, request, case_id):
        case = _get(OversellCase, case_id)
        data = input_valid(OversellCaseActInputSerializer, request)
        case = actions.oversell_case_act(case_id=case.pk, user=request.user, **data)
        return Response(OversellCaseOutputSerializer(case, context={"customers": oversell_customers([case])}).data)
