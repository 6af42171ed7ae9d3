"""Head office schedules prices and defines promotions from a page and from the admin too: the API's serializers
judge them and the same services announce them in the change feed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from branches.models import Change, ChangeKind
from inventory.models import Unit
from inventory.tests.factories import product_make
from pricing.models import Promotion, ScheduledPrice

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def catalog(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", name="Leche entera")
    product_make(sku="PAN-FLAUTA", unit=Unit.UNIT, price="2.00", name="Flauta")


@pytest.fixture
def web_manager(client, manager):
    client.force_login(manager)
    return client


def _local(at) -> str:
    """A time as a datetime-local field sends it."""
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


def test_a_price_scheduled_on_the_page_enters_the_feed_with_a_price_typed_in_spanish(catalog, web_manager):
    monday = timezone.now() + timedelta(days=3)

    answer = web_manager.post(
        "/pricing/", {"form": "price", "sku": "LAC-LECHE-1L", "price": "1,10", "effective_at": _local(monday)}
    )

    assert answer.status_code == 302
    scheduled = ScheduledPrice.objects.get()
    assert (scheduled.product_id, str(scheduled.price), scheduled.created_by) == ("LAC-LECHE-1L", "1.10", "mario")
    assert Change.objects.get(kind=ChangeKind.PRICE).payload["price_id"] == str(scheduled.id)
    page = web_manager.get("/pricing/").content.decode()
    assert "Leche entera" in page and "próximo" in page


def test_a_promotion_defined_on_the_page_enters_the_feed_and_is_listed(catalog, web_manager):
    starts = timezone.now() + timedelta(hours=1)
    form = {
        "form": "promotion",
        "name": "Lácteos 3x2",
        "kind": "multibuy",
        "skus": "LAC-LECHE-1L, PAN-FLAUTA",
        "starts_at": _local(starts),
        "ends_at": _local(starts + timedelta(days=7)),
        "buy": "3",
        "pay": "2",
    }

    assert web_manager.post("/pricing/", form).status_code == 302

    promotion = Promotion.objects.get()
    assert (promotion.skus, promotion.buy, promotion.pay) == (["LAC-LECHE-1L", "PAN-FLAUTA"], 3, 2)
    assert Change.objects.get(kind=ChangeKind.PROMOTION).payload["promotion_id"] == str(promotion.id)
    web_manager.post("/i18n/setlang/", {"language": "en"})
    page = web_manager.get("/pricing/").content.decode()
    assert "Lácteos 3x2" in page and "Buy N, pay M" in page and "Leche entera, Flauta" in page


def test_the_page_refuses_what_the_api_refuses_and_keeps_what_was_typed(catalog, web_manager):
    now = timezone.now()
    form = {"form": "promotion", "name": "Mal", "kind": "multibuy", "skus": "LAC-LECHE-1L", "buy": "2", "pay": "3"}
    form |= {"starts_at": _local(now), "ends_at": _local(now + timedelta(days=1))}

    refused = web_manager.post("/pricing/", form)
    unknown = web_manager.post("/pricing/", {"form": "price", "sku": "NOPE", "price": "1", "effective_at": _local(now)})

    assert refused.status_code == unknown.status_code == 200
    assert 'value="Mal"' in refused.content.decode()
    assert not Promotion.objects.exists() and not ScheduledPrice.objects.exists() and not Change.objects.exists()


def test_only_managers_open_the_page(catalog, client, cashier):
    assert client.get("/pricing/").status_code == 302
    client.force_login(cashier)
    assert client.get("/pricing/").status_code == 403


def test_the_admin_schedules_a_price_and_ends_a_promotion_through_the_services(catalog, admin_client):
    later = timezone.localtime(timezone.now() + timedelta(days=2))
    when = {"effective_at_0": later.strftime("%Y-%m-%d"), "effective_at_1": later.strftime("%H:%M:%S")}

    added = admin_client.post("/admin/pricing/scheduledprice/add/", {"product": "PAN-FLAUTA", "price": "1,90", **when})

    assert added.status_code == 302, added.context["adminform"].form.errors
    assert str(ScheduledPrice.objects.get().price) == "1.90"
    starts, ends = timezone.localtime(timezone.now()), timezone.localtime(timezone.now() + timedelta(days=5))
    form = {
        "name": "Pan -20 %",
        "kind": "percent",
        "skus": "PAN-FLAUTA",
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": starts.strftime("%H:%M:%S"),
        "ends_at_0": ends.strftime("%Y-%m-%d"),
        "ends_at_1": ends.strftime("%H:%M:%S"),
        "percent": "20",
    }
    assert admin_client.post("/admin/pricing/promotion/add/", form).status_code == 302
    promotion = Promotion.objects.get()
    ended = {
        **form,
        "ends_at_0": starts.strftime("%Y-%m-%d"),
        "ends_at_1": (starts + timedelta(hours=1)).strftime("%H:%M:%S"),
    }
    assert admin_client.post(f"/admin/pricing/promotion/{promotion.pk}/change/", ended).status_code == 302

    promotion.refresh_from_db()
    assert promotion.ends_at < ends
    assert Change.objects.filter(kind=ChangeKind.PROMOTION).count() == 2
    assert Change.objects.filter(kind=ChangeKind.PRICE).count() == 1


def test_the_admin_refuses_what_the_api_refuses(catalog, admin_client):
    now = timezone.localtime(timezone.now())
    form = {"name": "Mal", "kind": "percent", "skus": "NOPE", "percent": "150"}
    form |= {"starts_at_0": now.strftime("%Y-%m-%d"), "starts_at_1": "00:00:00"}
    form |= {"ends_at_0": now.strftime("%Y-%m-%d"), "ends_at_1": "23:59:00"}

    answer = admin_client.post("/admin/pricing/promotion/add/", form)

    assert answer.status_code == 200
    assert set(answer.context["adminform"].form.errors) >= {"percent"}
    assert not Promotion.objects.exists() and not Change.objects.exists()
