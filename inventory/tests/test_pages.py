"""The branch staff pages: each one on the same services (and the same validation) as the POS API, in Spanish
unless the user chose English."""

import json
import re
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from branches.models import IncomingTransfer, OutboxEvent, RecountRequest
from ecomarket.errors import DomainError
from ecomarket.pages import refusal_message
from inventory.models import Product, Sale, StockDocument, StockLevel, Unit
from inventory.tests.test_sales_api import on_hand, sell

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def page_client(user, language: str | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if language:
        client.cookies["django_language"] = language
    return client


@pytest.fixture
def cashier_page(cashier):
    return page_client(cashier)


@pytest.fixture
def manager_page(manager):
    return page_client(manager)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


PAGES = ["/pos/", "/stock/", "/stock/receive/", "/stock/count/", "/sales/"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_staff_are_sent_to_the_login_form(path):
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_cashier_logs_in_with_a_password_and_lands_on_the_till(cashier):
    cashier.set_password("caja-segura-1")
    cashier.save()
    client = Client()

    response = client.post("/login/", {"username": "carla", "password": "caja-segura-1"})

    assert response.status_code == 302 and response["Location"] == "/pos/"
    assert client.get("/pos/").status_code == 200


def test_wrong_password_shows_the_form_again_with_an_error(cashier):
    response = Client().post("/login/", {"username": "carla", "password": "nope"})

    assert response.status_code == 200
    assert "Usuario o contraseña incorrectos" in response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_spanish_by_default_even_for_an_english_browser(cashier_page, shelf, path):
    response = cashier_page.get(path, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="es">' in html
    assert "Existencias" in html and "Cerrar sesión" in html


@pytest.mark.parametrize("path", PAGES)
def test_every_page_switches_to_english_when_chosen(cashier, shelf, path):
    client = page_client(cashier)
    chosen = client.post("/i18n/setlang/", {"language": "en", "next": path})
    assert chosen.status_code == 302

    html = client.get(path).content.decode()

    assert '<html lang="en">' in html
    assert "Stock" in html and "Log out" in html and "Existencias" not in html


def test_pages_load_nothing_from_another_server(cashier_page, shelf):
    html = cashier_page.get("/pos/").content.decode()

    assert not re.search(r'(src|href)="(https?:)?//', html)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert cashier_page.get(asset).status_code == 200, asset


def test_till_page_carries_refusals_and_payment_names_in_the_users_language(cashier, shelf):
    spanish = page_client(cashier).get("/pos/").content.decode()
    english = page_client(cashier, "en").get("/pos/").content.decode()

    def config(html):
        return json.loads(re.search(r'<script id="pos-config" type="application/json">(.*?)</script>', html).group(1))

    assert config(spanish)["payments"]["cash"] == "Efectivo"
    assert "%(sku)s" in config(spanish)["refusals"]["insufficient_stock"]
    assert config(english)["payments"]["cash"] == "Cash"
    formats = json.loads(re.search(r'id="script-settings" type="application/json">(.*?)</script>', spanish).group(1))
    assert formats["decimal"] == "," and formats["thousands"] == "."


def test_cashier_does_not_see_the_void_form_and_may_not_void(cashier_page, cashier_client, shelf):
    number = sell(cashier_client, ("LAC-LECHE-1L", "1")).json()["number"]

    assert 'id="void-form"' not in cashier_page.get(f"/sales/{number}/").content.decode()
    assert cashier_page.post(f"/sales/{number}/void", {"reason": "x"}).status_code == 403
    assert Sale.objects.get(number=number).status == "completed"


# --------------------------------------------------------------------------------------------------------------
# Stock list
# --------------------------------------------------------------------------------------------------------------


def test_stock_list_searches_and_formats_quantities_per_language(cashier, shelf):
    spanish = page_client(cashier).get("/stock/", {"q": "banana"}).content.decode()
    english = page_client(cashier, "en").get("/stock/", {"q": "banana"}).content.decode()

    assert "FRU-BANANA" in spanish and "LAC-LECHE-1L" not in spanish
    assert "$ 1,80 / kg" in spanish and "$ 1.80 / kg" in english
    assert ">10 kg<" in spanish


def test_stock_list_shows_on_hand_on_the_ledgers_scale_whatever_sqlite_summed(cashier_page, shelf):
    # SQLite adds the stock projection up in floating point.
    StockLevel.objects.filter(product_id="FRU-BANANA").update(on_hand=290.957000000214)

    html = cashier_page.get("/stock/", {"q": "banana"}).content.decode()

    assert '<td class="num on-hand">290,957 kg</td>' in html


def test_stock_list_finds_by_barcode(cashier_page, shelf):
    html = cashier_page.get("/stock/", {"q": "7790742023001"}).content.decode()

    assert "LAC-LECHE-1L" in html and "FRU-BANANA" not in html


def test_stock_list_says_how_many_products_it_does_not_show(cashier_page):
    Product.objects.bulk_create(
        Product(sku=f"SKU-{index:04d}", name=f"Producto {index}", unit=Unit.UNIT, price=Decimal("1"))
        for index in range(503)
    )

    html = cashier_page.get("/stock/").content.decode()

    assert html.count("data-sku=") == 500
    assert "Se muestran los primeros 500 de 503 productos: 3 más." in html


def test_stock_api_pages_through_every_product(cashier_client):
    Product.objects.bulk_create(
        Product(sku=f"SKU-{index:04d}", name=f"Producto {index}", unit=Unit.UNIT, price=Decimal("1"))
        for index in range(250)
    )
    skus, answer = [], cashier_client.get("/api/v1/stock")
    while True:
        body = answer.json()
        skus += [row["sku"] for row in body["results"]]
        if not body["next"]:
            break
        answer = cashier_client.get(body["next"])

    assert skus == [f"SKU-{index:04d}" for index in range(250)]


# --------------------------------------------------------------------------------------------------------------
# Receive
# --------------------------------------------------------------------------------------------------------------


def test_receiving_goods_with_a_decimal_comma_adds_stock_through_the_receipt_service(cashier_page, shelf):
    document = str(uuid.uuid4())
    form = {"id": document, "sku": ["FRU-BANANA", "LAC-LECHE-1L", ""], "quantity": ["2,5", "12", ""]}

    response = cashier_page.post("/stock/receive/", form, follow=True)

    assert "Mercadería recibida" in " ".join(messages_of(response))
    assert on_hand("FRU-BANANA") == Decimal("12.500") and on_hand("LAC-LECHE-1L") == Decimal("17")
    assert OutboxEvent.objects.filter(type="stock.received", payload__lines__0__quantity="2.500").exists()


def test_the_same_receipt_form_sent_twice_receives_the_goods_once(cashier_page, shelf):
    form = {"id": str(uuid.uuid4()), "sku": ["LAC-LECHE-1L"], "quantity": ["3"]}

    cashier_page.post("/stock/receive/", form)
    cashier_page.post("/stock/receive/", form)

    assert on_hand("LAC-LECHE-1L") == Decimal("8")


def test_a_receipt_with_an_unknown_sku_writes_nothing_and_keeps_what_was_typed(cashier_page, shelf):
    events = OutboxEvent.objects.count()
    form = {"id": str(uuid.uuid4()), "sku": ["LAC-LECHE-1L", "NO-SUCH"], "quantity": ["3", "1"]}

    response = cashier_page.post("/stock/receive/", form)

    assert response.status_code == 200
    assert "Ningún producto con ese SKU" in " ".join(messages_of(response))
    assert 'value="NO-SUCH"' in response.content.decode()
    assert on_hand("LAC-LECHE-1L") == Decimal("5") and OutboxEvent.objects.count() == events


def test_a_receipt_with_a_bad_quantity_is_refused_by_the_apis_own_validation(cashier_page, shelf):
    form = {"id": str(uuid.uuid4()), "sku": ["LAC-LECHE-1L"], "quantity": ["-3"]}

    response = cashier_page.post("/stock/receive/", form)

    assert response.status_code == 200 and messages_of(response)
    assert on_hand("LAC-LECHE-1L") == Decimal("5")


def test_a_transfer_from_head_office_is_received_in_full_with_one_click(cashier_page, shelf):
    transfer = IncomingTransfer.objects.create(
        id=uuid.uuid4(), lines=[{"sku": "LAC-LECHE-1L", "quantity": "24"}], sent_at="2026-11-28T10:00:00Z"
    )
    page = cashier_page.get("/stock/receive/").content.decode()
    assert f"transfer-{transfer.pk}" in page
    assert 'Leche entera 1 L <span class="hint">LAC-LECHE-1L</span> × 24' in page

    cashier_page.post("/stock/receive/", {"id": str(uuid.uuid4()), "transfer_id": str(transfer.pk)})

    transfer.refresh_from_db()
    assert transfer.state == IncomingTransfer.State.RECEIVED
    assert on_hand("LAC-LECHE-1L") == Decimal("29")
    assert StockDocument.objects.get(transfer_id=transfer.pk).lines == [{"sku": "LAC-LECHE-1L", "quantity": "24.000"}]
    assert f"transfer-{transfer.pk}" not in cashier_page.get("/stock/receive/").content.decode()


# --------------------------------------------------------------------------------------------------------------
# Count
# --------------------------------------------------------------------------------------------------------------


def test_a_count_sets_stock_to_what_was_counted(cashier_page, shelf):
    form = {"id": str(uuid.uuid4()), "sku": ["FRU-BANANA"], "counted": ["7,25"]}

    response = cashier_page.post("/stock/count/", form, follow=True)

    assert "Conteo registrado" in " ".join(messages_of(response))
    assert on_hand("FRU-BANANA") == Decimal("7.250")
    assert OutboxEvent.objects.filter(type="stock.counted").count() == 1


def test_a_count_takes_a_barcode_where_the_sku_goes(cashier_page, shelf):
    form = {"id": str(uuid.uuid4()), "sku": ["7790742023001", "fru-banana"], "counted": ["12", "3,5"]}

    response = cashier_page.post("/stock/count/", form, follow=True)

    assert "Conteo registrado" in " ".join(messages_of(response))
    assert on_hand("LAC-LECHE-1L") == Decimal("12") and on_hand("FRU-BANANA") == Decimal("3.500")


@pytest.mark.parametrize(
    ("code", "counted", "says"),
    [("NO-SUCH", "1", "Ningún producto con ese SKU"), ("7790742023001", "1,5", "por unidad"), ("4011", "-2", "0")],
    ids=["unknown-code", "fraction-of-a-unit", "negative"],
)
def test_a_count_names_the_row_that_is_wrong_and_counts_nothing(cashier_page, shelf, code, counted, says):
    events = OutboxEvent.objects.count()
    form = {"id": str(uuid.uuid4()), "sku": ["FRU-BANANA", "", code], "counted": ["4", "", counted]}

    response = cashier_page.post("/stock/count/", form)

    [problem] = messages_of(response)
    assert problem.startswith(f"Fila 2 ({code}): ") and says in problem
    html = response.content.decode()
    # The rows come back as typed, the wrong one marked with its problem beside it.
    assert re.search(rf'<tr class="invalid"><td><input name="sku" value="{code}"[^>]* aria-invalid="true"', html)
    assert html.count('aria-invalid="true"') == 2  # its code and its quantity
    assert on_hand("FRU-BANANA") == Decimal("10.000") and OutboxEvent.objects.count() == events


def test_a_recount_head_office_asked_for_is_listed_until_counted(cashier_page, shelf):
    RecountRequest.objects.create(id=7, skus=["FRU-BANANA"], note="revisar", requested_at="2026-11-28T10:00:00Z")
    page = cashier_page.get("/stock/count/").content.decode()
    assert "revisar" in page and "?skus=FRU-BANANA" in page
    assert 'Banana <span class="hint">FRU-BANANA</span>' in page  # by name, beside its SKU
    assert 'value="FRU-BANANA"' in cashier_page.get("/stock/count/", {"skus": "FRU-BANANA"}).content.decode()

    cashier_page.post("/stock/count/", {"id": str(uuid.uuid4()), "sku": ["FRU-BANANA"], "counted": ["9"]})

    assert "revisar" not in cashier_page.get("/stock/count/").content.decode()


# --------------------------------------------------------------------------------------------------------------
# Sales: find, return, void
# --------------------------------------------------------------------------------------------------------------


def test_a_sale_is_found_by_its_receipt_number(cashier_page, cashier_client, shelf):
    number = sell(cashier_client, ("LAC-LECHE-1L", "2")).json()["number"]

    assert cashier_page.get("/sales/", {"number": str(number)})["Location"] == f"/sales/{number}/"
    missing = cashier_page.get("/sales/", {"number": "999"}, follow=True)
    assert "No hay venta número 999" in " ".join(messages_of(missing))


def test_a_return_from_the_sale_page_puts_goods_back_up_to_what_was_sold(cashier_page, cashier_client, shelf):
    number = sell(cashier_client, ("FRU-BANANA", "2.000")).json()["number"]
    form = {"id": str(uuid.uuid4()), "return-FRU-BANANA": "0,5", "reason": "golpeada"}

    done = cashier_page.post(f"/sales/{number}/return", form, follow=True)
    too_much = cashier_page.post(
        f"/sales/{number}/return", {"id": str(uuid.uuid4()), "return-FRU-BANANA": "1,6"}, follow=True
    )

    assert "Devolución registrada" in " ".join(messages_of(done))
    assert "Solo se pueden devolver 1,5 de Banana" in " ".join(messages_of(too_much))
    assert on_hand("FRU-BANANA") == Decimal("8.500")


def test_a_manager_voids_a_sale_from_its_page(manager_page, cashier_client, shelf):
    number = sell(cashier_client, ("LAC-LECHE-1L", "2")).json()["number"]

    response = manager_page.post(f"/sales/{number}/void", {"reason": "error de caja", "confirm": "yes"}, follow=True)

    assert "anulada" in " ".join(messages_of(response))
    assert Sale.objects.get(number=number).status == "voided"
    assert on_hand("LAC-LECHE-1L") == Decimal("5")


def test_a_void_asks_for_confirmation_showing_what_goes_back_and_voids_nothing_yet(manager_page, cashier_client, shelf):
    number = sell(cashier_client, ("LAC-LECHE-1L", "2")).json()["number"]

    response = manager_page.post(f"/sales/{number}/void", {"reason": "error de caja"})

    html = response.content.decode()
    assert response.status_code == 200 and f"¿Anular toda la venta #{number}?" in html
    assert "Leche entera 1 L" in html and 'name="confirm" value="yes"' in html and 'value="error de caja"' in html
    assert Sale.objects.get(number=number).status == "completed"
    assert on_hand("LAC-LECHE-1L") == Decimal("3")


def test_a_refusal_names_the_product_and_writes_the_quantity_in_the_users_language():
    Product.objects.create(sku="1001", name="Queso de campo", price=Decimal("9.00"), unit=Unit.KILOGRAM)
    refusal = DomainError("insufficient_stock", "Not enough", extra={"sku": "1001", "available": "1250.500"})
    unknown = DomainError("insufficient_stock", "Not enough", extra={"sku": "NO-SUCH", "available": "2.000"})

    with translation.override("en"):
        # The SKU "1001" reads as the product's name, never as a quantity; an unknown SKU is shown as it is.
        assert refusal_message(refusal) == "Not enough Queso de campo in stock: 1,250.5 available."
        assert refusal_message(unknown) == "Not enough NO-SUCH in stock: 2 available."
