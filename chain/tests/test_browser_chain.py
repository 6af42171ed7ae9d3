"""The chain at the till, in a real headless Chromium against live servers (central, B001 and B002 with their
workers and beats): B002's till shows B001's stock from its replica with the age of the figure, and calls it stale
once head office has been away longer than the threshold; B002's sales page finds a B001 sale by number and takes
it back. Screenshots in Spanish and English under var/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from ecomarket.tests.test_browser import (  # noqa: F401 (fixture)
    PASSWORD,
    browser,
    language,
    logged_in,
    screenshot,
    till_settled,
)
from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.browser]

SKU = "LAC-LECHE-1L"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(
        tmp_path_factory.mktemp("chain-till"),
        central_env={"CHAIN_STOCK_PUBLISH_S": "1"},
        # Stale soon, so the test sees the till say so while head office is away.
        branch_env={"B002": {"CHAIN_STOCK_STALE_S": "15"}},
    )
    chain.prepare()
    chain.central_sql("UPDATE branches_branch SET name = 'Sucursal Centro' WHERE code = 'B001' RETURNING code")
    chain.branch_nodes["B002"].manage("create_staff", "caja", "--role", "cashier", "--password", PASSWORD)
    chain.start()
    yield chain
    chain.stop()


@pytest.fixture(scope="module")
def sale(chain):
    """A B001 sale of 4 milk, in B002's replica and index."""
    chain.receive("B001", {SKU: "20"})
    answer = chain.sell("B001", SKU, "4")
    assert answer.status_code == 201, answer.text
    sale = answer.json()
    poll(
        lambda: chain.branch_sql("B002", "SELECT 1 FROM chain_chainsale WHERE id = ?", sale["id"].replace("-", "")),
        timeout=60,
        what="the sale in B002's index",
    )
    chain.wait_converged(timeout=60)
    figure = chain.central_stock("B001")[SKU]
    poll(
        lambda: any(
            row["branch"] == "B001" and row["on_hand"] == figure
            for row in chain.pos("B002").get(f"{chain.webs['B002'].url}/api/v1/stock/{SKU}/chain", timeout=10).json()
        ),
        timeout=60,
        what="B001's figure in B002's replica",
    )
    return {**sale, "figure": f"{float(figure):g}"}


def test_the_till_shows_other_stores_stock_with_its_age_and_says_when_it_is_stale(chain, browser, sale):  # noqa: F811
    page = logged_in(browser, chain.webs["B002"].url, "caja")
    page.keyboard.type("leche")
    panel = page.locator("#chain-stock")
    expect(panel).to_be_visible()
    expect(panel.locator('li[data-branch="B001"]')).to_have_text(
        re.compile(rf"^Sucursal Centro: {sale['figure']}, hace \d+ segundos?$")
    )
    expect(panel).to_have_attribute("data-stale", "0")
    screenshot(page, "chain-till-stock-es")
    language(page, "en")
    page.keyboard.type("leche")
    expect(panel.locator('li[data-branch="B001"]')).to_have_text(
        re.compile(rf"^Sucursal Centro: {sale['figure']}, \d+ seconds? ago$")
    )
    screenshot(page, "chain-till-stock-en")

    chain.central_web.kill()
    try:
        poll(lambda: chain.sync_status("B002")["chain_stock_stale"], timeout=90, what="B002's replica stale")
        page.reload()
        till_settled(page)  # keys typed while the reloaded till asks about its drawer could be lost
        page.keyboard.type("leche")
        expect(panel).to_have_attribute("data-stale", "1")
        expect(page.locator("#chain-stock-note")).to_contain_text("Stale")
        expect(panel.locator('li[data-branch="B001"]')).to_contain_text(f"Sucursal Centro: {sale['figure']}")
        screenshot(page, "chain-till-stock-stale-en")
    finally:
        chain.central_web.start()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_sale_of_another_store_is_found_by_number_and_taken_back(chain, browser, sale, lang):  # noqa: F811
    page = logged_in(browser, chain.webs["B002"].url, "caja")
    if lang == "en":
        language(page, "en")
    before = chain.branch_stock("B002").get(SKU, "0")
    page.goto(f"{chain.webs['B002'].url}/sales/")
    page.fill("#sale-number", str(sale["number"]))
    page.select_option("#sale-branch", "B001")
    screenshot(page, f"chain-sales-find-{lang}")
    page.locator("#sale-number").press("Enter")
    expect(page).to_have_url(re.compile(rf"/sales/B001/{sale['number']}/$"))
    expect(page.locator("h1")).to_contain_text("Sucursal Centro")
    screenshot(page, f"chain-sale-{lang}")

    page.fill(f'input[name="return-{SKU}"]', "1")
    page.locator("#return-form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/returns/[0-9a-f-]+/slip/$"))
    screenshot(page, f"chain-return-slip-{lang}")
    assert float(chain.branch_stock("B002")[SKU]) == float(before) + 1
