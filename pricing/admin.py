"""Head office schedules prices and defines promotions here too, through the API's serializers and the same
services, so each is announced in the change feed like one from the API or the page. A branch shows them as the
feed delivered them; nothing is deleted (a schedule is corrected by a new one, a promotion ended early)."""

from django import forms
from django.conf import settings
from django.contrib import admin

from ecomarket.pages import form_decimal, form_errors_add
from pricing import services
from pricing.models import Promotion, ScheduledPrice
from pricing.serializers import PriceScheduleInputSerializer, PromotionInputSerializer


def _checked(form: forms.ModelForm, serializer_class, body: dict, cleaned: dict) -> dict:
    """The form's values judged by the API's serializer: its values on success, else its errors on the form."""
    serializer = serializer_class(data={name: value for name, value in body.items() if value not in (None, "")})
    if not serializer.is_valid():
        form_errors_add(form, serializer.errors)
        return cleaned
    return {**cleaned, **serializer.validated_data}


class ScheduledPriceForm(forms.ModelForm):
    class Meta:
        model = ScheduledPrice
        fields = ["product", "price", "effective_at"]
        localized_fields = ["price"]  # "1,90" typed in Spanish

    def clean(self):
        cleaned = super().clean()
        product = cleaned.get("product")
        body = {
            "sku": product.sku if product else "",
            "price": form_decimal(self.data.get(self.add_prefix("price"), "")),
            "effective_at": cleaned.get("effective_at"),
        }
        return _checked(self, PriceScheduleInputSerializer, body, cleaned)


class PromotionForm(forms.ModelForm):
    skus = forms.CharField(help_text=Promotion._meta.get_field("skus").help_text, max_length=20000)

    class Meta:
        model = Promotion
        fields = ["name", "kind", "skus", "starts_at", "ends_at", "percent", "price", "buy", "pay"]
        localized_fields = ["percent", "price"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.skus:
            self.initial["skus"] = ", ".join(self.instance.skus)

    def clean(self):
        cleaned = super().clean()
        body = {name: cleaned.get(name) for name in ("name", "kind", "starts_at", "ends_at", "buy", "pay")}
        body["skus"] = [sku.strip() for sku in cleaned.get("skus", "").split(",") if sku.strip()]
        for name in ("percent", "price"):
            body[name] = form_decimal(self.data.get(self.add_prefix(name), ""))
        return _checked(self, PromotionInputSerializer, body, cleaned)


class _HeadOffice(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return settings.IS_CENTRAL and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ScheduledPrice)
class ScheduledPriceAdmin(_HeadOffice):
    form = ScheduledPriceForm
    list_display = ["product", "price", "effective_at", "created_by", "created_at"]
    search_fields = ["product__sku"]
    autocomplete_fields = ["product"]
    date_hierarchy = "effective_at"

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and settings.IS_CENTRAL and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """Through the service, so every branch hears of it in its feed; the row the admin logs is the one made."""
        data = form.cleaned_data
        scheduled = services.price_schedule(
            sku=data["sku"], price=data["price"], effective_at=data["effective_at"], user=request.user
        )
        obj.pk, obj.effective_at, obj.created_at = scheduled.pk, scheduled.effective_at, scheduled.created_at


@admin.register(Promotion)
class PromotionAdmin(_HeadOffice):
    form = PromotionForm
    list_display = ["name", "kind", "starts_at", "ends_at", "percent", "price", "buy", "pay"]
    list_filter = ["kind"]
    search_fields = ["name"]

    def has_change_permission(self, request, obj=None) -> bool:
        return settings.IS_CENTRAL and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """Through the service (a change replaces the promotion, e.g. ends it early), announced in the feed."""
        fields = {name: form.cleaned_data.get(name) for name in ("name", "kind", "skus", "starts_at", "ends_at")}
        figures = {name: form.cleaned_data.get(name) for name in ("percent", "price", "buy", "pay")}
        services.promotion_save(promotion_id=obj.pk, user=request.user, **fields, **figures)
