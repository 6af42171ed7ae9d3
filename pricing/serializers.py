"""Pricing's API shapes: head office's scheduled prices and promotions."""

from decimal import Decimal

from rest_framework import serializers

from branches.protocol import PROMOTION_KINDS
from inventory.serializers import MoneyField, sku_reference_field
from pricing.models import Promotion, ScheduledPrice


class PriceScheduleInputSerializer(serializers.Serializer):
    sku = sku_reference_field()
    price = MoneyField(min_value=Decimal("0"))
    effective_at = serializers.DateTimeField(help_text="when it takes over; a time already past means now")


class ScheduledPriceOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product_id")
    price = MoneyField()

    class Meta:
        model = ScheduledPrice
        fields = ["id", "sku", "price", "effective_at", "created_by", "created_at"]


# The figures each kind of promotion needs.
_FIGURES = {"percent": ["percent"], "price": ["price"], "multibuy": ["buy", "pay"], "nth_percent": ["buy", "percent"]}


class PromotionInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="an existing promotion's id, to replace it (end it early)")
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=PROMOTION_KINDS)
    skus = serializers.ListField(child=sku_reference_field(), allow_empty=False, max_length=500)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    percent = MoneyField(required=False, min_value=Decimal("0.01"), max_value=Decimal("100"))
    price = MoneyField(required=False, min_value=Decimal("0"))
    buy = serializers.IntegerField(required=False, min_value=2, max_value=1000)
    pay = serializers.IntegerField(required=False, min_value=1)

    def validate(self, data):
        needs = {
            "percent": ["percent"],
            "price": ["price"],
            "multibuy": ["buy", "pay"],
            "nth_percent": ["buy", "percent"],
        }
        missing = [name for name in needs[data["kind"]] if name not in data]
        if missing:
            raise serializers.ValidationError({name: [f"Required for a {data['kind']} promotion."] for name in missing})
        if data["ends_at"] <= data["starts_at"]:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        if data["kind"] == "multibuy" and data["pay"] >= data["buy"]:
            raise serializers.ValidationError({"pay": ["Must be less than buy."]})
        return data


class PromotionOutputSerializer(serializers.ModelSerializer):
    percent = MoneyField(allow_null=True)
    price = MoneyField(allow_null=True)

    class Meta:
        model = Promotion
        fields = ["id", "name", "kind", "skus", "starts_at", "ends_at", "percent", "price", "buy", "pay", "created_by"]
