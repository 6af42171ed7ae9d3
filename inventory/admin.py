from django import forms
from django.conf import settings
from django.contrib import admin

from ecomarket.admin import ReadOnlyAdmin, ReadOnlyInline
from ecomarket.pages import form_decimal, form_errors_add
from inventory.models import Product, Return, ReturnLine, Sale, SaleLine, StockDocument, StockLevel, StockMovement
from inventory.serializers import ProductCreateInputSerializer, ProductSaveInputSerializer


class ProductForm(forms.ModelForm):
    """Admin's product form checks what the product API checks, with the API's serializer: the form's own fields
    would take a price of "1E+2" or a SKU with a tab in it."""

    class Meta:
        model = Product
        fields = ["sku", "name", "unit", "price", "barcode", "plu", "active"]

    def clean(self):
        cleaned = super().clean()
        adding = self.instance._state.adding
        body = {name: self.data.get(self.add_prefix(name), "") for name in ("name", "unit", "price", "barcode", "plu")}
        body["price"] = form_decimal(body["price"])
        body["active"] = cleaned.get("active", False)
        if adding:
            body["sku"] = self.data.get(self.add_prefix("sku"), "")
        serializer = (ProductCreateInputSerializer if adding else ProductSaveInputSerializer)(data=body)
        if not serializer.is_valid():
            form_errors_add(self, serializer.errors)
            return cleaned
        return {**cleaned, **serializer.validated_data}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = ["sku", "name", "unit", "price", "barcode", "plu", "active", "updated_at"]
    list_filter = ["unit", "active"]
    search_fields = ["sku", "name", "barcode", "plu"]

    # Head office owns the catalog and prices; a branch shows them as they came.
    def has_add_permission(self, request) -> bool:
        return settings.IS_CENTRAL and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return settings.IS_CENTRAL and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        # A SKU is the key every branch knows the product by: editing it would make another product.
        return ["sku"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        """Through the service, so every branch hears of the change in its feed."""
        from branches.change_feed import product_save

        fields = {name: form.cleaned_data[name] for name in ("name", "unit", "price", "barcode", "plu", "active")}
        product, _ = product_save(sku=obj.sku, **fields)
        obj.updated_at = product.updated_at


class SaleLineInline(ReadOnlyInline):
    model = SaleLine
    fields = ["product", "quantity", "unit_price", "line_total", "discount", "promotion_id", "barcodes"]


@admin.register(Sale)
class SaleAdmin(ReadOnlyAdmin):
    list_display = ["number", "branch", "created_at", "total", "payment_method", "status", "oversold", "cashier"]
    list_filter = ["status", "payment_method", "oversold", "branch"]
    search_fields = ["=number", "=id"]
    date_hierarchy = "created_at"
    inlines = [SaleLineInline]


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ["product", "quantity"]


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdmin):
    list_display = ["id", "sale", "created_at", "reason", "cashier"]
    inlines = [ReturnLineInline]


@admin.register(StockDocument)
class StockDocumentAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "branch", "transfer_id", "created_at", "recorded_by"]
    list_filter = ["kind"]


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ["branch", "seq", "product", "quantity", "kind", "reference", "occurred_at"]
    list_filter = ["kind", "branch"]
    search_fields = ["product__sku", "reference"]


@admin.register(StockLevel)
class StockLevelAdmin(ReadOnlyAdmin):
    list_display = ["branch", "product", "on_hand", "updated_at"]
    list_filter = ["branch"]
    search_fields = ["product__sku", "product__name"]
