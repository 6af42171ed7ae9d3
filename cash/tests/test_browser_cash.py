"""The cash drawer's pages in Chromium as a cashier and a manager use them, in Spanish and in English: the till
refusing to sell on a register without an open session, a session opened with its float on /cash/, cash put in and
taken out, the X report (a manager's), the blind close (the figure the drawer should hold is never on the cashier's
page, not even when a close is refused), and the Z report as a page and as an 80 mm receipt printer prints it.
One live chain for the module, with test_browser.py's fixtures; screenshots under var/screenshots/ as there."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from ecomarket.tests import test_browser
from ecomarket.tests.test_browser import MILK, language, logged_in, scan, screenshot, screenshots
from ecomarket.tests.test_browser_pages import english_on

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.browser]

chain, browser = test_browser.chain, test_browser.browser

# 80 mm paper, 72 mm printable: 72 mm at 96 px per inch is 272 px.
PRINTABLE_PX = 273


def api(chain, method: str, path: str, **body) -> dict:
    answer = chain.pos("B001").request(method, f"{chain.webs['B001'].url}{path}", json=body or None, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def shown_as(amount: str) -> set[str]:
    """How a page may write an amount: with either decimal mark, with or without the currency."""
    return {amount, amount.replace(".", ","), f"$ {amount}", f"$ {amount.replace('.', ',')}"}


def figure_absent(page: Page, amount: str) -> None:
    text = page.locator("body").inner_text()
    for written in shown_as(amount):
        assert written not in text, f"the page shows {written}: the close is not blind"


def printed_80mm(page: Page, name: str) -> None:
    """The Z as the receipt printer prints it: within the 72 mm a 80 mm roll prints, nothing else of the page."""
    page.emulate_media(media="print")
    assert page.locator("#z-report").bounding_box()["width"] <= PRINTABLE_PX
    assert page.evaluate(
        "[...document.querySelectorAll('#z-report *')].every((e) => e.getBoundingClientRect().right <= "
        f"document.querySelector('#z-report').getBoundingClientRect().left + {PRINTABLE_PX})"
    ), "a line of the Z runs past the printable width"
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator("#z-report button[data-print]")).to_be_hidden()
    screenshot(page, name)
    page.emulate_media(media="screen")


def test_a_cashier_opens_moves_and_closes_blind_and_a_manager_reads_the_x_and_the_z_in_spanish(chain, browser):
    base = chain.webs["B001"].url
    till = logged_in(browser, base, "caja", register="T2")
    expect(till.locator("#till-session")).to_contain_text("no tiene una sesión abierta")
    till.locator("#pos-search").focus()
    scan(till, MILK)
    till.keyboard.press("F9")
    expect(till.locator("#pos-message")).to_contain_text("no tiene una sesión abierta")
    expect(till.locator("#receipt")).to_be_hidden()
    screenshots(till, "cash-till-no-session")

    till.goto(f"{base}/cash/")
    registers = till.locator("#registers")
    expect(registers).to_contain_text("T1")
    expect(registers.locator("tr", has_text="T2")).to_contain_text("cerrada")
    assert english_on(till) == []
    screenshots(till, "cash-home")
    till.locator("#float-T2").fill("50,00")
    till.locator("#float-T2").press("Enter")
    expect(till).to_have_url(re.compile(r"/cash/sessions/[0-9a-f-]{36}/$"))
    session_id = till.url.rstrip("/").rsplit("/", 1)[1]
    expect(till.locator("p.meta")).to_contain_text("Fondo inicial $ 50,00")

    for kind, amount, reason in (("in", "10", "cambio"), ("out", "20", "caja fuerte")):
        till.locator("#move-form select[name=kind]").select_option(kind)
        till.locator("#move-amount").fill(amount)
        till.locator("#move-reason").fill(reason)
        till.locator("#move-form button[type=submit]").click()
        expect(till.locator("ul.messages")).to_contain_text("Movimiento de efectivo registrado.")
    expect(till.locator("#move-form + ul")).to_contain_text("ingreso de efectivo $ 10,00 cambio")
    expect(till.locator("#move-form + ul")).to_contain_text("retiro de efectivo $ 20,00 caja fuerte")

    # Two milks paid from a $ 5 note, one on a card: the drawer should hold 50 + 10 - 20 + 2,50 = 42,50.
    for payments in ([{"method": "cash", "amount": "5.00"}], [{"method": "card", "amount": "1.25"}]):
        quantity = "2" if payments[0]["method"] == "cash" else "1"
        api(
            chain,
            "POST",
            "/api/v1/sales",
            register="T2",
            lines=[{"sku": "LAC-LECHE-1L", "quantity": quantity}],
            payments=payments,
        )
    expected = api(chain, "GET", f"/api/v1/cash-sessions/{session_id}/report")["expected_cash"]
    assert expected == "42.50"

    till.reload()
    expect(till.locator("#close-form")).to_be_visible()
    expect(till.locator("#x-report")).to_have_count(0)
    figure_absent(till, expected)
    assert english_on(till) == []
    screenshots(till, "cash-session-cashier")

    manager = logged_in(browser, base, "gerente")
    manager.goto(f"{base}/cash/sessions/{session_id}/")
    report = manager.locator("#x-report")
    expect(report).to_contain_text("Efectivo")
    expect(report).to_contain_text("Tarjeta")
    expect(manager.locator("#x-expected")).to_have_text("$ 42,50")
    assert english_on(manager) == []
    screenshots(manager, "cash-session-manager-x")

    # Ten short is beyond what a cashier closes alone: refused, and still nothing says what was expected.
    till.locator("#counted").fill("32,50")
    till.locator("#close-form button[type=submit]").click()
    expect(till.locator("ul.messages")).to_contain_text("pida a un gerente que apruebe el cierre")
    expect(till).to_have_url(re.compile(rf"/cash/sessions/{session_id}/$"))
    figure_absent(till, expected)
    screenshots(till, "cash-session-close-refused")
    till.locator("#counted").fill("41,50")
    till.locator("#close-form button[type=submit]").click()
    expect(till).to_have_url(re.compile(rf"/cash/sessions/{session_id}/z/$"))

    z = till.locator("#z-report")
    expect(z).to_contain_text("Informe Z T2 #1")
    expect(z).to_contain_text("Efectivo")
    expect(till.locator("#z-variance")).to_have_text("$ -1,00")
    assert english_on(till) == []
    screenshots(till, "cash-z")
    printed_80mm(till, "cash-z-print-80mm-es")
    closed = api(chain, "GET", f"/api/v1/cash-sessions/{session_id}/report")
    assert (closed["z_number"], closed["variance"]) == (1, "-1.00")

    language(till, "en")
    expect(z).to_contain_text("Z report T2 #1")
    expect(z).to_contain_text("Cash")
    expect(till.locator("#z-variance")).to_have_text("$ -1.00")
    screenshots(till, "cash-z")
    printed_80mm(till, "cash-z-print-80mm-en")


def test_a_manager_runs_a_register_s_day_in_english(chain, browser):
    base = chain.webs["B001"].url
    page = logged_in(browser, base, "gerente", register="T3")
    page.goto(f"{base}/cash/")
    language(page, "en")
    page.locator("#register-code").fill("T3")
    page.locator("#register-name").fill("Express")
    page.locator("#register-form button[type=submit]").click()
    expect(page.locator("ul.messages")).to_contain_text("Register saved.")
    page.locator("#float-T3").fill("30.00")
    page.locator("#float-T3").press("Enter")
    expect(page).to_have_url(re.compile(r"/cash/sessions/[0-9a-f-]{36}/$"))
    session_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("p.meta")).to_contain_text("Opening float $ 30.00")

    # The till pinned to T3 sells now that its session is open.
    page.goto(f"{base}/pos/")
    expect(page.locator("#till-session")).to_contain_text("float $ 30.00")
    page.locator("#pos-search").focus()
    scan(page, MILK)
    page.keyboard.press("F9")
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-register")).to_have_text("· T3")
    page.keyboard.press("Enter")

    page.goto(f"{base}/cash/sessions/{session_id}/")
    page.locator("#move-form select[name=kind]").select_option("out")
    page.locator("#move-amount").fill("5")
    page.locator("#move-form button[type=submit]").click()
    expect(page.locator("ul.messages")).to_contain_text("Cash movement recorded.")
    expect(page.locator("#x-expected")).to_have_text("$ 26.25")  # 30 + 1.25 - 5
    screenshots(page, "cash-session-manager-x")
    # A manager's close is approved by its maker: 6.25 short closes at once.
    page.locator("#counted").fill("20")
    page.locator("#close-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/cash/sessions/{session_id}/z/$"))
    expect(page.locator("#z-variance")).to_have_text("$ -6.25")
    expect(page.locator("#z-report")).to_contain_text("approved by gerente")
    screenshots(page, "cash-z-approved")
    printed_80mm(page, "cash-z-approved-print-80mm-en")

    page.goto(f"{base}/cash/")
    expect(page.locator("ul", has_text="T3 Z1")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^T3 Z1 ")).click()
    expect(page).to_have_url(re.compile(rf"/cash/sessions/{session_id}/z/$"))
    assert Decimal(api(chain, "GET", f"/api/v1/cash-sessions/{session_id}/report")["variance"]) == Decimal("-6.25")
