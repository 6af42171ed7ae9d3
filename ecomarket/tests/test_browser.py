"""The staff pages in a real headless Chromium (Debian's, driven by Playwright) against live servers: central under
gunicorn on PostgreSQL, branch B001 under gunicorn on SQLite with its Celery worker and beat, a proxy between them.
Each test saves a screenshot of every page it visits under var/screenshots/ (BROWSER_SCREENSHOTS to change)."""

import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect, sync_playwright

from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.browser]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As root in a container Chromium needs --no-sandbox; the network flags stop it calling Google at start-up.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "una-clave-de-prueba"
TILL = {"width": 1280, "height": 800}
TABLETS = [{"width": 768, "height": 1024}, {"width": 1024, "height": 768}]
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", settings.BASE_DIR / "var" / "screenshots"))
MILK = "7790742023001"  # Leche entera 1 L, $ 1,25 (inventory/demo.py)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(
        tmp_path_factory.mktemp("chain"),
        # B002 may sell below zero: its till asks for the customer's contact (issue 19).
        branches=("B001", "B002"),
        branch_env={"B002": {"BRANCH_ALLOW_NEGATIVE_STOCK": "true"}},
        postgres_url=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0],
    )
    chain.prepare()
    chain.branch_nodes["B001"].manage("create_staff", "caja", "--role", "cashier", "--password", PASSWORD)
    chain.branch_nodes["B001"].manage("create_staff", "gerente", "--role", "manager", "--password", PASSWORD)
    chain.branch_nodes["B002"].manage("create_staff", "caja", "--role", "cashier", "--password", PASSWORD)
    chain.central.manage("create_staff", "jefa", "--role", "manager", "--password", PASSWORD)
    chain.start()
    yield chain
    chain.stop()


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)", pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def logged_in(browser, base_url: str, user: str, viewport=TILL) -> Page:
    """A new browser (own cookies) that logged in through the login form with the keyboard only."""
    page = browser.new_context(viewport=viewport, locale="en-US").new_page()
    page.goto(f"{base_url}/")
    expect(page).to_have_url(re.compile(r"/login/"))
    screenshot(page, f"login-{user}")
    page.keyboard.type(user)  # the user field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/(pos|dashboard)/$"))
    return page


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def fits(page: Page) -> bool:
    """Nothing sticks out sideways: no horizontal scrolling."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def badge(page: Page, state: str, timeout_s: float = 60):
    expect(page.locator("#sync-badge")).to_have_attribute("data-state", state, timeout=timeout_s * 1000)


def scan(page: Page, code: str) -> None:
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def on_hand(chain: ProcessChain, sku: str, branch: str = "B001") -> Decimal:
    return Decimal(chain.branch_stock(branch)[sku])


def language(page: Page, code: str) -> None:
    page.select_option("select[name=language]", code)
    page.locator("#language-apply").click()
    expect(page.locator("html")).to_have_attribute("lang", code)


def test_cashier_sells_with_the_keyboard_alone_and_sees_the_stock_drop(chain, browser):
    milk, bananas = on_hand(chain, "LAC-LECHE-1L"), on_hand(chain, "FRU-BANANA")
    page = logged_in(browser, chain.webs["B001"].url, "caja")
    expect(page).to_have_url(re.compile(r"/pos/$"))
    expect(page.locator("html")).to_have_attribute("lang", "es")  # Spanish although the browser asks for English
    screenshot(page, "branch-pos-empty")

    scan(page, MILK)
    expect(page.locator("#basket tbody tr")).to_have_count(1)
    scan(page, MILK)  # the same barcode again: one more of it
    expect(page.locator('#basket input[data-sku="LAC-LECHE-1L"]')).to_have_value("2")
    scan(page, "FRU-BANANA")  # weighed: the cursor goes to its quantity for the weight
    expect(page.locator('#basket input[data-sku="FRU-BANANA"]')).to_be_focused()
    page.keyboard.type("1,25")
    page.keyboard.press("Enter")
    expect(page.locator("#pos-search")).to_be_focused()
    # 2 x 1,25 + 1,25 kg x 1,80 = 2,50 + 2,25
    expect(page.locator("#pos-total")).to_have_text("$ 4,75")
    page.keyboard.press("F4")
    page.keyboard.press("ArrowRight")  # from cash to card
    expect(page.locator('input[name="payment"][value="card"]')).to_be_checked()
    screenshot(page, "branch-pos-basket")
    assert fits(page)

    page.keyboard.press("F9")

    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-total")).to_have_text("$ 4,75")
    expect(page.locator("#receipt-payment")).to_have_text("Tarjeta")
    number = page.locator("#receipt-number").inner_text()
    assert re.fullmatch(r"#\d+", number)
    screenshot(page, "branch-pos-receipt")
    assert on_hand(chain, "LAC-LECHE-1L") == milk - 2
    assert on_hand(chain, "FRU-BANANA") == bananas - Decimal("1.25")

    page.keyboard.press("Enter")  # next sale
    expect(page.locator("#receipt")).to_be_hidden()
    page.keyboard.type("leche")  # the finder shows what the shelf holds now
    expect(page.locator("#pos-results li").first).to_contain_text(f"{milk - 2:.0f} en stock")

    page.goto(f"{chain.webs['B001'].url}/stock/?q=leche")
    expect(page.locator('#stock tr[data-sku="LAC-LECHE-1L"] .on-hand')).to_have_text(f"{milk - 2:.0f}")
    screenshot(page, "branch-stock")


def test_badge_shows_head_office_unreachable_while_central_is_down_then_drains(chain, browser):
    page = logged_in(browser, chain.webs["B001"].url, "caja")
    badge(page, "ok")
    chain.central_web.kill()
    try:
        for _ in range(3):
            scan(page, MILK)
            page.keyboard.press("F9")
            expect(page.locator("#receipt")).to_be_visible()  # selling does not wait for head office
            page.keyboard.press("Enter")
        badge(page, "unreachable", timeout_s=30)
        # The badge polls: the count rises to the three sales waiting without a reload.
        page.wait_for_function("Number(document.querySelector('#sync-badge').dataset.pending) >= 3", timeout=30_000)
        expect(page.locator("#sync-badge")).to_contain_text("Casa central sin conexión")
        # Spanish times are H:mm:ss: "0:58:16" just after midnight in the chain's time zone.
        expect(page.locator("#sync-badge")).to_contain_text(re.compile(r"Último envío correcto: \d{1,2}:\d\d:\d\d"))
        screenshot(page, "branch-pos-central-down")
    finally:
        chain.central_web.start()

    badge(page, "ok", timeout_s=60)  # no reload: the badge polls the branch
    assert page.locator("#sync-badge").get_attribute("data-pending") == "0"
    screenshot(page, "branch-pos-drained")
    chain.wait_converged(timeout=30)


def test_a_refused_sale_says_why_in_the_users_language_and_nothing_is_sold(chain, browser):
    page = logged_in(browser, chain.webs["B001"].url, "caja")
    page.select_option("select[name=language]", "en")
    page.locator("#language-apply").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    stock = on_hand(chain, "LAC-LECHE-1L")
    scan(page, MILK)
    page.locator('#basket input[data-sku="LAC-LECHE-1L"]').fill(f"{stock + 1:.0f}")

    page.keyboard.press("F9")

    expect(page.locator("#pos-message")).to_have_text(f"Not enough LAC-LECHE-1L in stock: {stock:,.0f} available.")
    expect(page.locator("#receipt")).to_be_hidden()
    assert on_hand(chain, "LAC-LECHE-1L") == stock
    screenshot(page, "branch-pos-refused-en")


def test_staff_pages_receive_count_return_and_void_from_the_browser(chain, browser):
    base = chain.webs["B001"].url
    page = logged_in(browser, base, "gerente")
    rice = on_hand(chain, "ALM-ARROZ-1K")

    page.goto(f"{base}/stock/receive/")
    page.locator("input[name=sku]").first.fill("ALM-ARROZ-1K")
    page.locator("input[name=quantity]").first.fill("10")
    page.get_by_role("button", name="Registrar recepción").click()
    expect(page.locator("ul.messages")).to_contain_text("Mercadería recibida")
    screenshot(page, "branch-receive")
    assert on_hand(chain, "ALM-ARROZ-1K") == rice + 10

    page.goto(f"{base}/stock/count/")
    page.locator("input[name=sku]").first.fill("ALM-ARROZ-1K")
    page.locator("input[name=counted]").first.fill("50")
    page.get_by_role("button", name="Registrar conteo").click()
    expect(page.locator("ul.messages")).to_contain_text("Conteo registrado")
    screenshot(page, "branch-count")
    assert on_hand(chain, "ALM-ARROZ-1K") == 50

    sale = chain.sell("B001", "ALM-ARROZ-1K", "4").json()
    page.goto(f"{base}/sales/")
    screenshot(page, "branch-sales")
    page.locator("#sale-number").fill(str(sale["number"]))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/sales/{sale['number']}/$"))
    page.locator("input[name='return-ALM-ARROZ-1K']").fill("1")
    page.get_by_role("button", name="Registrar devolución").click()
    expect(page.locator("ul.messages")).to_contain_text("Devolución registrada")
    assert on_hand(chain, "ALM-ARROZ-1K") == 47
    screenshot(page, "branch-sale-returned")

    other = chain.sell("B001", "ALM-ARROZ-1K", "2").json()
    page.goto(f"{base}/sales/{other['number']}/")
    page.locator("#void-reason").fill("cliente arrepentido")
    page.get_by_role("button", name="Anular venta").click()
    expect(page.locator("ul.messages")).to_contain_text("anulada")
    screenshot(page, "branch-sale-voided")
    assert on_hand(chain, "ALM-ARROZ-1K") == 47


@pytest.mark.parametrize("viewport", [TILL, *TABLETS], ids=lambda v: f"{v['width']}x{v['height']}")
def test_every_branch_page_fits_the_till_and_a_tablet(chain, browser, viewport):
    page = logged_in(browser, chain.webs["B001"].url, "gerente", viewport=viewport)
    for path in ["/pos/", "/stock/", "/stock/receive/", "/stock/count/", "/sales/"]:
        page.goto(f"{chain.webs['B001'].url}{path}")
        assert fits(page), path
    screenshot(page, f"branch-sales-{viewport['width']}x{viewport['height']}")


def test_manager_resolves_a_discrepancy_on_the_dashboard_by_clicking(chain, browser):
    # A store registered at head office that has never reported: reconciliation flags it.
    chain.central.manage("register_branch", "B099")
    chain.central.manage("reconcile", "--full")
    [(record_id,)] = chain.central_sql(
        "SELECT id FROM reconciliation_discrepancy WHERE branch = 'B099' AND kind = 'stale_branch'"
    )
    page = logged_in(browser, chain.central_web.url, "jefa")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    row = page.locator(f"#discrepancy-{record_id}")
    expect(row).to_be_visible()
    screenshot(page, "central-dashboard")
    assert fits(page)

    row.locator("select[name=action]").select_option("resolve")
    row.locator("input[name=note]").fill("sucursal aún no inaugurada")
    row.get_by_role("button", name="Aplicar").click()

    expect(page.locator("ul.messages")).to_contain_text(f"Discrepancia {record_id} actualizada")
    expect(page.locator(f"#discrepancy-{record_id}")).to_have_count(0)  # the default filter shows open ones
    screenshot(page, "central-dashboard-resolved")
    [(status, note)] = chain.central_sql(
        "SELECT status, resolution_note FROM reconciliation_discrepancy WHERE id = %s", record_id
    )
    assert (status, note) == ("resolved", "sucursal aún no inaugurada")


def oversell_at_the_till(page: Page, chain: ProcessChain, sku: str, barcode: str) -> Decimal:
    """Put one more than the shelf holds in the basket and press F9: the till asks for the customer's contact."""
    stock = on_hand(chain, sku, "B002")
    scan(page, barcode)
    page.locator(f'#basket input[data-sku="{sku}"]').fill(f"{stock + 1:.0f}")
    page.keyboard.press("F9")
    expect(page.locator("#pos-customer")).to_be_visible()
    expect(page.locator("#customer-name")).to_be_focused()
    expect(page.locator("#receipt")).to_be_hidden()  # nothing charged yet
    assert on_hand(chain, sku, "B002") == stock
    return stock


def test_till_asks_the_oversold_customer_for_a_contact_that_head_office_then_sees(chain, browser):
    page = logged_in(browser, chain.webs["B002"].url, "caja")
    oversell_at_the_till(page, chain, "LAC-LECHE-1L", MILK)
    expect(page.locator("#pos-customer legend")).to_have_text("Contacto del cliente (opcional)")
    expect(page.locator("#pos-message")).to_contain_text("Casa central se comunicará con el cliente")
    page.keyboard.type("Ana Pérez")
    page.keyboard.press("Tab")
    page.keyboard.type("+54 11 5555-0101")
    screenshot(page, "branch-pos-oversell-contact")
    assert fits(page)

    page.keyboard.press("F9")

    expect(page.locator("#receipt")).to_be_visible()
    assert on_hand(chain, "LAC-LECHE-1L", "B002") == -1  # one more than the shelf held
    page.keyboard.press("Enter")  # the next sale starts with the contact cleared and hidden
    expect(page.locator("#pos-customer")).to_be_hidden()
    expect(page.locator("#customer-name")).to_have_value("")

    # English, and the contact is optional: F9 again charges without one.
    language(page, "en")
    oversell_at_the_till(page, chain, "PAN-MOLDE", "7792200000128")
    expect(page.locator("#pos-customer legend")).to_have_text("Customer contact (optional)")
    expect(page.locator("#pos-message")).to_contain_text("Head office will contact the customer")
    screenshot(page, "branch-pos-oversell-contact-en")
    page.keyboard.press("F9")
    expect(page.locator("#receipt")).to_be_visible()

    # Head office: the oversell case shows the contact with the sale, to a manager.
    poll(lambda: chain.converged("B002"), timeout=60, what="B002 delivered its sales")
    chain.central.manage("reconcile", "--full")
    office = logged_in(browser, chain.central_web.url, "jefa")
    case = office.locator("#oversell tr", has_text="LAC-LECHE-1L")
    expect(case).to_contain_text("Ana Pérez")
    expect(case.locator('a[href="tel:+54 11 5555-0101"]')).to_be_visible()
    expect(office.locator("#oversell tr", has_text="PAN-MOLDE")).not_to_contain_text("Cliente:")
    screenshot(office, "central-dashboard-oversell-contact")


def test_manager_reads_the_reports_in_spanish_and_english(chain, browser):
    chain.sell("B001", "ALM-YERBA-1K", "2")
    chain.sell("B002", "ALM-YERBA-1K", "1")
    poll(lambda: chain.converged("B001") and chain.converged("B002"), timeout=60, what="the branches delivered")
    chain.central.manage("report_rollup")
    page = logged_in(browser, chain.central_web.url, "jefa")
    page.get_by_role("link", name="Informes").click()
    expect(page).to_have_url(re.compile(r"/reports/$"))
    expect(page.locator("h1").first).to_have_text("Informes")
    expect(page.locator("svg.chart")).to_have_count(4)
    sales = page.locator("#report-sales tbody tr")
    expect(sales.filter(has_text="B001")).not_to_have_count(0)
    expect(sales.filter(has_text="B002")).not_to_have_count(0)
    expect(page.locator("#report-products")).to_contain_text("Yerba mate 1 kg")
    expect(page.locator("#report-stock tbody tr")).to_have_count(2)
    screenshot(page, "central-reports")
    assert fits(page)

    page.locator('#report-filters input[name=branch][value="B002"]').check()
    page.locator("#report-filters input[name=sku]").fill("ALM-YERBA-1K")
    page.get_by_role("button", name="Mostrar").click()
    expect(page).to_have_url(re.compile(r"branch=B002"))
    expect(sales.filter(has_text="B001")).to_have_count(0)
    expect(page.locator("#report-products tbody tr")).to_have_count(1)
    with page.expect_download() as download:
        page.locator('a[href^="/reports/sales.csv"]').click()
    assert "B002" in Path(download.value.path()).read_text()

    language(page, "en")
    expect(page.locator("h1").first).to_have_text("Reports")
    expect(page.locator("h2", has_text="Sales by product")).to_be_visible()
    expect(page.locator("#report-filters input[name=branch][value=B002]")).to_be_checked()  # the filters stay
    screenshot(page, "central-reports-en")
