"""Grocery pricing at the till, in a real Chromium against live servers (the fixtures of
ecomarket/tests/test_browser.py): a scale label scanned adds its line with its weight, a promotion and a markdown
show on the line and on the receipt with the saving, and a cashier's markdown is approved by a manager's login typed
on the same till. In Spanish and in English, with screenshots under var/screenshots/."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from ecomarket.tests import test_browser
from ecomarket.tests.test_browser import MILK, PASSWORD, language, logged_in, scan, screenshots
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.browser]

# The same fixtures, so this module starts a chain and a browser of its own.
chain, browser = test_browser.chain, test_browser.browser

BANANAS = "2000102012503"  # a scale label: 1.250 kg of bananas (PLU 102) at $ 1,80 = $ 2,25 (README)
MISREAD = "2000102012504"  # the same label with a wrong check digit


@pytest.fixture(scope="module")
def milk_three_for_two(chain):
    """Head office puts milk on "3x2" from an hour ago; the store has pulled it before a till opens."""
    now = datetime.now().astimezone()
    answer = chain.head_office().post(
        f"{chain.central_web.url}/api/v1/promotions",
        json={
            "name": "Leche 3x2",
            "kind": "multibuy",
            "skus": ["LAC-LECHE-1L"],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
            "buy": 3,
            "pay": 2,
        },
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    poll(
        lambda: chain.branch_sql("B001", "SELECT COUNT(*) FROM pricing_promotion")[0][0] == 1,
        timeout=90,
        interval=0.2,
        what="the promotion pulled by B001",
    )
    return answer.json()


def basket_of_bananas_and_milk(page: Page) -> None:
    scan(page, BANANAS)
    bananas = page.locator('#basket input[data-sku="FRU-BANANA"]')
    expect(bananas).to_have_js_property("readOnly", True)
    for _ in range(3):
        scan(page, MILK)
    expect(page.locator('#basket input[data-sku="LAC-LECHE-1L"]')).to_have_value("3")


def note(page: Page, sku: str):
    return page.locator(f'#basket tr[data-sku="{sku}"] .line-note')


def test_in_spanish_a_label_a_promotion_and_a_markdown_a_manager_approves_on_the_till(
    chain, browser, milk_three_for_two
):
    page = logged_in(browser, chain.webs["B001"].url, "caja")
    expect(page.locator("html")).to_have_attribute("lang", "es")

    scan(page, MISREAD)
    expect(page.locator("#pos-message")).to_contain_text("no se leyó bien")
    expect(page.locator("#basket tbody tr")).to_have_count(0)
    basket_of_bananas_and_milk(page)
    expect(page.locator('#basket input[data-sku="FRU-BANANA"]')).to_have_value("1,25")
    expect(note(page, "FRU-BANANA")).to_have_text(f"Etiqueta de balanza {BANANAS}")
    expect(note(page, "LAC-LECHE-1L")).to_have_text("Leche 3x2 −$ 1,25")

    page.locator('#basket tr[data-sku="LAC-LECHE-1L"] .markdown').click()
    page.locator("#markdown-value").fill("10")
    page.locator("#markdown-reason").fill("próximo a vencer")
    page.locator("#markdown-apply").click()
    # 2,25 of bananas; 3,75 of milk less 1,25 (3x2) less 10 % of the 2,50 left
    expect(note(page, "LAC-LECHE-1L")).to_have_text("Leche 3x2 −$ 1,25 · próximo a vencer (−10 %) −$ 0,25")
    expect(page.locator("#pos-total")).to_have_text("$ 4,50")
    screenshots(page, "pricing-pos-basket")

    page.keyboard.press("F9")  # a cashier's markdown: the box asks for a manager
    expect(page.locator("#markdown-approval-dialog")).to_be_visible()
    screenshots(page, "pricing-pos-approval")
    page.locator("#markdown-approval-username").fill("gerente")
    page.locator("#markdown-approval-password").fill(PASSWORD)
    page.locator("#markdown-approve").click()

    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-total")).to_have_text("$ 4,50")
    expect(page.locator("#receipt-saving")).to_contain_text("Usted ahorró $ 1,50")
    expect(page.locator("#receipt-approved")).to_have_text("Descuentos aprobados por gerente")
    lines = page.locator("#receipt-lines")
    expect(lines).to_contain_text("1,25 kg × $ 1,80")
    discounts = lines.locator("tr.discount")
    expect(discounts).to_have_count(2)
    expect(discounts.nth(0)).to_contain_text("Leche 3x2")
    expect(discounts.nth(0)).to_contain_text("$ -1,25")
    expect(discounts.nth(1)).to_contain_text("próximo a vencer (−10 %)")
    expect(discounts.nth(1)).to_contain_text("$ -0,25")
    screenshots(page, "pricing-pos-receipt")
    sold = chain.branch_sql(
        "B001", "SELECT markdown_approved_by, total FROM inventory_sale ORDER BY number DESC LIMIT 1"
    )
    assert [(who, Decimal(str(total))) for who, total in sold] == [("gerente", Decimal("4.50"))]


def test_in_english_a_manager_marks_the_whole_sale_down_and_the_receipt_shows_the_saving(
    chain, browser, milk_three_for_two
):
    page = logged_in(browser, chain.webs["B001"].url, "gerente")
    language(page, "en")

    basket_of_bananas_and_milk(page)
    expect(note(page, "FRU-BANANA")).to_have_text(f"Scale label {BANANAS}")
    expect(page.locator('#basket tr[data-sku="FRU-BANANA"] .markdown')).to_be_hidden()  # the sale's instead
    page.locator("#pos-markdown").click()
    page.locator('input[name="markdown-kind"][value="amount"]').check()
    page.locator("#markdown-value").fill("0.50")
    page.locator("#markdown-reason").fill("damaged pack")
    page.locator("#markdown-apply").click()
    expect(page.locator("#pos-sale-markdown")).to_have_text("Discount on the sale: damaged pack (−$ 0.50) −$ 0.50")
    expect(page.locator("#pos-total")).to_have_text("$ 4.25")
    screenshots(page, "pricing-pos-basket")

    page.keyboard.press("F9")  # a manager at the till approves by ringing it up

    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-total")).to_have_text("$ 4.25")
    expect(page.locator("#receipt-saving")).to_contain_text("You saved $ 1.75")
    expect(page.locator("#receipt-lines")).to_contain_text("Leche 3x2")
    expect(page.locator("#receipt-lines")).to_contain_text("Discount on the sale")
    screenshots(page, "pricing-pos-receipt")
