"""Produce at the till and the head-office pages, in Chromium against a live chain (test_browser.py's fixtures and
helpers): quick keys head office lays out from a store's best-selling fruit and vegetables and the till sells by;
a transfer sent from head office's page, received short and damaged at the store, the difference on the dashboard;
reports that never add kilograms to units and name products beside their SKUs; the oversell action as one choice,
with times in the chain's time. Screenshots in Spanish and English at 1280x800 and 768x1024."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from ecomarket.tests import test_browser
from ecomarket.tests.test_browser import charged_sale, language, logged_in, on_hand, screenshots, till
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.browser]

# The same fixtures, so this module starts a chain and a browser of its own.
chain, browser = test_browser.chain, test_browser.browser
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")  # a payload's time as text, which no person should read


def delivered(chain, *codes: str) -> None:
    for code in codes:
        poll(lambda code=code: chain.converged(code), timeout=60, what=f"{code} delivered its events")


def office(browser, chain, path: str) -> Page:
    page = logged_in(browser, chain.central_web.url, "jefa")
    page.goto(f"{chain.central_web.url}{path}")
    return page


def test_quick_keys_laid_out_at_head_office_from_the_store_s_best_sellers_sell_produce_at_the_till(chain, browser):
    for sku, kilograms in [("VER-TOMATE", "3"), ("FRU-BANANA", "2"), ("FRU-MANZANA", "1")]:
        assert chain.sell("B001", sku, kilograms).status_code == 201
    delivered(chain, "B001")
    chain.central.manage("report_rollup")

    page = office(browser, chain, "/dashboard/")
    page.get_by_role("link", name="Teclas rápidas").click()
    page.locator("select[name=branch]").select_option("B001")
    page.locator("#quick-keys-suggest").click()
    suggested = page.locator("#quick-keys-suggested tbody tr")
    expect(suggested.first).to_contain_text("Tomate redondo")
    expect(suggested.first).to_contain_text("3 kg")
    laid_out = page.locator("#quick-keys-skus").input_value().splitlines()
    assert laid_out[:3] == ["VER-TOMATE", "FRU-BANANA", "FRU-MANZANA"]
    screenshots(page, "central-quick-keys-suggested")
    page.get_by_role("button", name="Enviar a las cajas").click()
    expect(page.locator("ul.messages")).to_contain_text("Teclas rápidas enviadas a las cajas")
    expect(page.locator("#quick-keys-now li").first).to_contain_text("Tomate redondo")
    screenshots(page, "central-quick-keys")
    language(page, "en")
    expect(page.locator("h1")).to_have_text("The tills' quick keys")
    screenshots(page, "central-quick-keys")

    # The store pulls the layout from the change feed; its till shows it, in the order laid out, finger-sized.
    poll(
        lambda: chain.branch_sql("B001", "SELECT count(*) FROM inventory_quickkey WHERE branch = 'B001'")[0][0] >= 3,
        timeout=60,
        what="B001 pulled its quick keys",
    )
    cashier, errors = till(browser, chain)
    keys = cashier.locator("#quick-keys button")
    expect(keys.first).to_contain_text("Tomate redondo")
    assert [keys.nth(i).get_attribute("data-sku") for i in range(3)] == ["VER-TOMATE", "FRU-BANANA", "FRU-MANZANA"]
    assert all(keys.nth(i).bounding_box()["height"] >= 44 for i in range(3))

    tomatoes = on_hand(chain, "VER-TOMATE")
    cashier.locator('#quick-keys button[data-sku="FRU-BANANA"]').click()
    # A weighed good waits for its weight, on the keypad or the keyboard.
    expect(cashier.locator('#basket input[data-sku="FRU-BANANA"]')).to_be_focused()
    cashier.keyboard.type("1,5")
    cashier.keyboard.press("Enter")
    cashier.locator('#quick-keys button[data-sku="VER-TOMATE"]').click()
    expect(cashier.locator('#basket input[data-sku="VER-TOMATE"]')).to_be_focused()
    cashier.keyboard.type("0,5")
    cashier.keyboard.press("Enter")
    expect(cashier.locator("#pos-total")).to_have_text("$ 4,15")  # 1,5 kg x 1,80 + 0,5 kg x 2,90
    screenshots(cashier, "branch-pos-quick-keys")
    cashier.keyboard.press("F9")
    expect(cashier.locator("#receipt-total")).to_have_text("$ 4,15")
    lines = {line["sku"]: Decimal(line["quantity"]) for line in charged_sale(chain, cashier)["lines"]}
    assert lines == {"FRU-BANANA": Decimal("1.5"), "VER-TOMATE": Decimal("0.5")}
    assert on_hand(chain, "VER-TOMATE") == tomatoes - Decimal("0.5")

    # The next customer's apples, by their key.
    cashier.keyboard.press("Enter")
    expect(cashier.locator("#receipt")).to_be_hidden()
    cashier.locator('#quick-keys button[data-sku="FRU-MANZANA"]').click()
    expect(cashier.locator('#basket input[data-sku="FRU-MANZANA"]')).to_be_focused()
    expect(cashier.locator("#basket tbody tr")).to_have_count(1)
    language(cashier, "en")
    expect(cashier.locator("#quick-keys")).to_have_attribute("aria-label", "Quick keys")
    screenshots(cashier, "branch-pos-quick-keys")
    assert errors == []


def test_a_transfer_sent_from_head_office_s_page_received_short_and_damaged_shows_on_the_dashboard(chain, browser):
    page = office(browser, chain, "/transfers/")
    page.locator("select[name=to_branch]").select_option("B001")
    page.locator("input[name=note]").fill("reposición semanal")
    skus, quantities = page.locator("input[name=sku]"), page.locator("input[name=quantity]")
    skus.nth(0).fill("LAC-LECHE-1L")
    quantities.nth(0).fill("12")
    skus.nth(1).fill("FRU-NARANJA")
    quantities.nth(1).fill("8,5")
    screenshots(page, "central-transfer-new")
    page.get_by_role("button", name="Enviar transferencia").click()
    expect(page.locator("ul.messages")).to_contain_text("Transferencia enviada a B001")
    sent = page.locator("#transfers tbody tr").first
    expect(sent.locator(".transfer-state")).to_have_text("en camino")
    expect(sent).to_contain_text("Naranja de jugo")
    expect(sent).to_contain_text("8,5 kg")
    assert not ISO_TIME.search(sent.inner_text())
    transfer_id = sent.get_attribute("id").removeprefix("transfer-")

    # At the store: the milk arrives 2 short and 1 damaged, the oranges in full.
    base = chain.webs["B001"].url
    milk, oranges = on_hand(chain, "LAC-LECHE-1L"), on_hand(chain, "FRU-NARANJA")
    store = logged_in(browser, base, "gerente")

    def arrived() -> bool:
        store.goto(f"{base}/stock/receive/")
        return store.locator(f"#transfer-{transfer_id}").count() == 1

    poll(arrived, timeout=60, what="B001 pulled the transfer")
    row = store.locator(f"#transfer-{transfer_id}")
    row.locator("summary").click()
    row.locator('input[name="good-LAC-LECHE-1L"]').fill("9")
    row.locator('input[name="damaged-LAC-LECHE-1L"]').fill("1")
    screenshots(store, "branch-receive-short")
    row.get_by_role("button", name="Registrar lo que llegó").click()
    expect(store.locator("ul.messages")).to_contain_text("Mercadería recibida")
    assert on_hand(chain, "LAC-LECHE-1L") == milk + 9
    assert on_hand(chain, "FRU-NARANJA") == oranges + Decimal("8.5")
    language(store, "en")
    store.goto(f"{base}/stock/receive/")
    screenshots(store, "branch-receive-short")

    # Head office: the dashboard and the transfers page say what came short and damaged, by product name.
    delivered(chain, "B001")
    page.goto(f"{chain.central_web.url}/dashboard/")
    short = page.locator(f"#short-transfers #transfer-{transfer_id}")
    expect(short).to_contain_text("Leche entera 1 L")
    expect(short.locator(".transfer-short")).to_have_text("faltan 2")
    expect(short.locator(".transfer-damaged")).to_have_text("dañado 1")
    expect(short.locator(".transfer-state")).to_have_text("recibida con faltantes o daños")
    screenshots(page, "central-dashboard-short-transfer")
    page.goto(f"{chain.central_web.url}/transfers/")
    expect(page.locator(f"#transfer-{transfer_id} .transfer-state")).to_have_text("recibida con faltantes o daños")
    screenshots(page, "central-transfers")
    language(page, "en")
    expect(page.locator(f"#transfer-{transfer_id} .transfer-short")).to_have_text("short 2")
    screenshots(page, "central-transfers")
    page.goto(f"{chain.central_web.url}/dashboard/")
    expect(short.locator(".transfer-damaged")).to_have_text("damaged 1")
    screenshots(page, "central-dashboard-short-transfer")


def test_reports_keep_kilograms_apart_from_units_and_name_the_best_sellers(chain, browser):
    assert chain.sell("B002", "ALM-ARROZ-1K", "3").status_code == 201
    assert chain.sell("B002", "VER-PAPA", "2.5").status_code == 201
    delivered(chain, "B002")
    chain.central.manage("report_rollup")

    page = office(browser, chain, "/reports/?branch=B002")
    row = page.locator("#report-sales tbody tr", has_text="B002").last
    expect(row.locator(".sales-units")).to_have_text("3")
    expect(row.locator(".sales-kg")).to_have_text("2,5")
    stock = page.locator("#report-stock tbody tr", has_text="B002")
    expect(stock.locator(".stock-kg")).to_have_text(re.compile(r"^\d+(\.\d{3})*(,\d+)?$"))
    potatoes = page.locator("#report-products tbody tr", has_text="VER-PAPA")
    expect(potatoes.locator(".product-units")).to_have_text("2,5 kg")
    chart = page.locator("svg.chart", has=page.locator("title", has_text="Productos más vendidos"))
    expect(chart).to_contain_text("Papa blanca")
    expect(chart).to_contain_text("VER-PAPA")
    screenshots(page, "central-reports-units-kg")

    # A filter the page does not know is said, in each language.
    page.goto(f"{chain.central_web.url}/reports/?producto=papa")
    expect(page.locator("#report-problems")).to_contain_text("No hay un filtro «producto»")
    screenshots(page, "central-reports-unknown-filter")
    language(page, "en")
    expect(page.locator("#report-problems")).to_contain_text("There is no filter “producto”")
    screenshots(page, "central-reports-unknown-filter")
    page.goto(f"{chain.central_web.url}/reports/?branch=B002")
    expect(page.locator("#report-products tbody tr", has_text="VER-PAPA").locator(".product-units")).to_have_text(
        "2.5 kg"
    )
    screenshots(page, "central-reports-units-kg")


def test_the_oversell_action_is_one_choice_and_its_sales_show_the_chain_s_time(chain, browser):
    # B002 sells below zero (its policy): one more of the yogurt than it holds.
    held = on_hand(chain, "LAC-YOGUR-1L", "B002")
    assert chain.sell("B002", "LAC-YOGUR-1L", f"{held + 1:.0f}").status_code == 201
    delivered(chain, "B002")
    chain.central.manage("reconcile", "--full")

    page = office(browser, chain, "/dashboard/")
    case = page.locator("#oversell tbody tr", has_text="LAC-YOGUR-1L")
    expect(case).to_contain_text("Yogur bebible frutilla 1 L")
    assert not ISO_TIME.search(case.locator("ul.sales").inner_text())  # the sale's time as the chain reads it
    expect(case.locator("select")).to_have_count(1)
    options = case.locator("select[name=action] option")
    expect(options.first).to_have_text("Cliente contactado")
    expect(case.locator('select[name=action] option[value="resolve:refunded"]')).to_have_text("Resuelto: reembolsado")
    screenshots(page, "central-dashboard-oversell-action")
    language(page, "en")
    expect(case.locator('select[name=action] option[value="resolve:refunded"]')).to_have_text("Resolved: refunded")
    screenshots(page, "central-dashboard-oversell-action")

    case_id = case.get_attribute("id").removeprefix("oversell-")
    case.locator("select[name=action]").select_option("resolve:refunded")
    case.locator("input[name=note]").fill("refunded at the counter")
    case.get_by_role("button", name="Apply").click()
    expect(page.locator("ul.messages")).to_contain_text(f"Oversell case {case_id} updated")
    [(status, resolution)] = chain.central_sql(
        "SELECT status, resolution FROM reconciliation_oversellcase WHERE id = %s", int(case_id)
    )
    assert (status, resolution) == ("resolved", "refunded")
