"""The cash drawer's request shapes that other apps' APIs share (a sale's register and payments) and the bodies its
own APIs answer."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from rest_framework import serializers

from cash.models import CashMovement, CashSession, Register
from ecomarket.quantities import money_text
from inventory.models import PaymentMethod
from inventory.serializers import MoneyField, RegisterCodeField

MAX_PAYMENTS = 8


class PaymentInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    amount = MoneyField(min_value=Decimal("0.01"))


def payments_field() -> serializers.ListSerializer:
    return PaymentInputSerializer(many=True, allow_empty=False, max_length=MAX_PAYMENTS, required=False)


def distinct_methods(payments: list[dict]) -> list[dict]:
    methods = [payment["method"] for payment in payments]
    if len(set(methods)) != len(methods):
        raise serializers.ValidationError("Each payment method may appear once.")
    return payments


def service_payments(data: list[dict] | None) -> list[tuple[str, Decimal]] | None:
    """Validated payments as the sale service takes them."""
    return None if data is None else [(payment["method"], payment["amount"]) for payment in data]


class RegisterSerializer(serializers.ModelSerializer):
    code = RegisterCodeField()
    name = serializers.CharField(max_length=60)
    active = serializers.BooleanField(default=True)

    class Meta:
        model = Register
        fields = ["code", "name", "active", "last_z_number"]
        read_only_fields = ["last_z_number"]
        extra_kwargs = {"code": {"validators": []}}


class CashSessionOpenInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    register = RegisterCodeField()
    opening_float = MoneyField(min_value=Decimal("0"))


class CashMovementInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    kind = serializers.ChoiceField(choices=["in", "out"])
    amount = MoneyField(min_value=Decimal("0.01"))
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class CountedInputSerializer(serializers.Serializer):
    cash = MoneyField(min_value=Decimal("0"))


class ManagerApprovalSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=get_user_model()._meta.get_field("username").max_length)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class CashSessionCloseInputSerializer(serializers.Serializer):
    counted = CountedInputSerializer()
    approval = ManagerApprovalSerializer(required=False, help_text="a manager's login, when the variance needs one")


class CashDayCloseInputSerializer(serializers.Serializer):
    day = serializers.DateField(required=False, help_text="the store's business day; today by default")


class CashMovementOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CashMovement
        fields = ["id", "kind", "amount", "reason", "created_at"]


class ByMethodSerializer(serializers.Serializer):
    method = serializers.CharField()
    sales = MoneyField()
    refunds = MoneyField()
    net = MoneyField()


class ReportSerializer(serializers.Serializer):
    """The X report (running figures); the Z report adds the close's fields."""

    session_id = serializers.UUIDField()
    register = serializers.CharField()
    status = serializers.CharField()
    opened_at = serializers.DateTimeField()
    opened_by = serializers.CharField()
    sales_count = serializers.IntegerField()
    first_sale_number = serializers.IntegerField(allow_null=True)
    last_sale_number = serializers.IntegerField(allow_null=True)
    by_method = ByMethodSerializer(many=True)
    returns = serializers.IntegerField()
    voids = serializers.IntegerField()
    opening_float = MoneyField()
    cash_in = MoneyField()
    cash_out = MoneyField()
    expected_cash = MoneyField()


class ZReportSerializer(ReportSerializer):
    z_number = serializers.IntegerField()
    first_seq = serializers.IntegerField()
    last_seq = serializers.IntegerField()
    counted_cash = MoneyField()
    variance = MoneyField()
    closed_at = serializers.DateTimeField()
    closed_by = serializers.CharField()
    approved_by = serializers.CharField()


class CashSessionOutputSerializer(serializers.ModelSerializer):
    register = serializers.CharField(source="register_id")
    opened_by = serializers.CharField(source="opened_by.username", default="")
    z_report = serializers.JSONField(read_only=True, help_text="the Z report once closed (as POST .../close answers)")

    class Meta:
        model = CashSession
        fields = [
            "id",
            "register",
            "status",
            "opening_float",
            "opened_by",
            "opened_at",
            "closed_at",
            "z_number",
            "z_report",
        ]


class DayCloseSerializer(serializers.Serializer):
    day = serializers.DateField()
    closed_at = serializers.DateTimeField()
    totals = serializers.JSONField()


class SessionRecordSerializer(serializers.Serializer):
    """Central: a branch's cash session as head office holds it."""

    branch = serializers.CharField(source="branch_id")
    session_id = serializers.UUIDField()
    register = serializers.CharField()
    status = serializers.SerializerMethodField()
    opened_at = serializers.DateTimeField(allow_null=True)
    opened_by = serializers.CharField()
    opening_float = MoneyField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    z_number = serializers.IntegerField(allow_null=True)
    first_seq = serializers.IntegerField(allow_null=True)
    last_seq = serializers.IntegerField(allow_null=True)
    expected_cash = MoneyField(allow_null=True)
    counted_cash = MoneyField(allow_null=True)
    variance = MoneyField(allow_null=True)
    verdict = serializers.CharField(help_text="pending (waiting for the Z's events), agrees or mismatch")

    def get_status(self, record) -> str:
        return "closed" if record.z_report else "open"


def money_or_none(value) -> str | None:
    return None if value is None else money_text(value)
