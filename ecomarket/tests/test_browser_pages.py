"""Every page a person reaches, walked in Chromium as a tablet shows it: nothing is left in English on a Spanish
page (the staff pages, the till, the dashboard, the reports and the admin's lists and forms), and nothing sticks out
sideways at 768 px. One live chain for the module, as in test_browser.py (whose fixtures and helpers these are)."""

import re
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Page, expect

from ecomarket.tests import test_browser
from ecomarket.tests.test_browser import TABLETS, TILL, language, logged_in, screenshot
from ecomarket.tests.test_translations import po_entries
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.browser]

# The same fixtures, so this module starts a chain and a browser of its own.
chain, browser = test_browser.chain, test_browser.browser
TABLET = TABLETS[0]  # 768 × 1024, upright

# What a page shows a person: its text, and the words in its attributes that are read aloud or shown on hover.
VISIBLE_WORDS = """() => {
  const chunks = [["title", document.title]];
  const where = (element) => element.tagName.toLowerCase() + (element.id ? "#" + element.id : "");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest("script, style, template")) continue;
    chunks.push([where(node.parentElement), node.textContent]);
  }
  for (const element of document.querySelectorAll("[placeholder], [aria-label], [title], [alt], input[type=submit]")) {
    for (const name of ["placeholder", "aria-label", "title", "alt"]) {
      if (element.hasAttribute(name)) chunks.push([`${where(element)}[${name}]`, element.getAttribute(name)]);
    }
    if (element.type === "submit") chunks.push([`${where(element)}[value]`, element.value]);
  }
  // What the page's scripts will show later (the sync badge's states, the till's messages): sentences, not the
  // codes data attributes also hold.
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      if (attribute.name.startsWith("data-") && attribute.value.includes(" ")) {
        chunks.push([`${where(element)}[${attribute.name}]`, attribute.value]);
      }
    }
  }
  return chunks
    .map(([source, chunk]) => [source, chunk.replace(/\\s+/g, " ").trim()])
    .filter(([, chunk]) => /[A-Za-z]/.test(chunk));
}"""


def english_catalogue() -> tuple[set[str], list[str]]:
    """The English of every message that has a different Spanish text: whole messages, which a piece of text must
    not be, and the runs of three words or more between their placeholders, which it must not contain."""
    whole, runs = set(), []
    entries = po_entries()
    spanish = set(entries.values())  # "Stock" is English for one message and Spanish for another
    for msgid, msgstr in entries.items():
        if msgstr == msgid or msgid in spanish or not re.search(r"[A-Za-z]", msgid):
            continue
        whole |= {msgid, msgid[:1].upper() + msgid[1:]}
        for run in re.split(r"%\(\w+\)[sd]|%s|\{\{[^}]*\}\}|[\n\"“”]", msgid):
            if len(run.split()) >= 3 and len(run.strip()) >= 12:
                runs.append(run.strip())
    return whole, runs


ENGLISH = english_catalogue()


def english_on(page: Page) -> list[str]:
    whole, runs = ENGLISH
    found = []
    for source, chunk in page.evaluate(VISIBLE_WORDS):
        pieces = {chunk, chunk.rstrip(":."), chunk.removeprefix("Por ")}  # admin's "By <field>" filter headings
        if pieces & whole or any(run in chunk for run in runs):
            found.append(f"{source}: {chunk[:120]}")
    return sorted(set(found))


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def admin_pages(page: Page, base: str) -> list[str]:
    """The admin's index, every list it links to, the first record of each and each add form."""
    page.goto(f"{base}/admin/")
    lists = page.eval_on_selector_all("#content-main a[href$='/']", "links => links.map((a) => a.href)")
    found = [f"{base}/admin/"]
    for url in dict.fromkeys(lists):
        found.append(url)
        if url.endswith("/add/"):
            continue
        page.goto(url)
        first = page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
        if first.count():
            found.append(urljoin(url, first.get_attribute("href")))
    return found


def walk(page: Page, urls: list[str], name: str) -> tuple[dict, dict]:
    """Each page in Spanish at the page's viewport: the English it shows and how far it overflows, per path."""
    english, wide = {}, {}
    for url in urls:
        response = page.goto(url)
        assert response.ok, f"{url}: {response.status}"
        path = url.split("//", 1)[1].split("/", 1)[1]
        expect(page.locator("html")).to_have_attribute("lang", "es")
        if found := english_on(page):
            english[path] = found
        if (pixels := overflow(page)) > 0:
            wide[path] = pixels
            screenshot(page, f"{name}-overflow-{re.sub(r'[^a-z0-9]+', '-', path)}")
    return english, wide


def test_every_branch_page_is_in_spanish_and_fits_a_tablet(chain, browser):
    base = chain.webs["B001"].url
    sale = chain.sell("B001", "ALM-YERBA-1K", "1").json()
    page = logged_in(browser, base, "gerente", viewport=TABLET)
    pages = ["/pos/", "/stock/", "/stock/receive/", "/stock/count/", "/sales/", f"/sales/{sale['number']}/"]
    urls = [f"{base}{path}" for path in pages] + admin_pages(page, base)

    english, wide = walk(page, urls, "branch")

    # The void's confirmation is a page of its own, reached by asking.
    page.goto(f"{base}/sales/{sale['number']}/")
    page.locator("#void-reason").fill("prueba")
    page.locator("#void-reason").press("Enter")
    expect(page.locator("h1")).to_contain_text("¿Anular")
    if found := english_on(page):
        english["void confirmation"] = found
    if overflow(page) > 0:
        wide["void confirmation"] = overflow(page)
    screenshot(page, "pages-branch-void-confirm-768x1024")

    assert english == {}, f"English on Spanish pages: {english}"
    assert wide == {}, f"pages wider than a 768 px tablet (px): {wide}"
    for path in pages[:3]:
        page.goto(f"{base}{path}")
        screenshot(page, f"pages-branch{path.replace('/', '-').rstrip('-')}-768x1024")
    page.goto(f"{base}/admin/inventory/product/")
    screenshot(page, "pages-branch-admin-products-768x1024")


def test_every_central_page_is_in_spanish_and_fits_a_tablet(chain, browser):
    chain.sell("B001", "ALM-YERBA-1K", "1")
    poll(lambda: chain.converged("B001"), timeout=60, what="B001 delivered its sales")
    chain.central.manage("report_rollup")
    chain.central.manage("reconcile", "--full")
    base = chain.central_web.url
    page = logged_in(browser, base, "jefa", viewport=TABLET)
    pages = [
        "/dashboard/",
        "/reports/",
        "/reports/?grain=hour",
        "/transfers/",
        "/quick-keys/?suggest=1",
        "/reports/discounts/",
        "/pricing/",
    ]
    urls = [f"{base}{path}" for path in pages] + admin_pages(page, base)

    english, wide = walk(page, urls, "central")

    assert english == {}, f"English on Spanish pages: {english}"
    assert wide == {}, f"pages wider than a 768 px tablet (px): {wide}"
    for path, name in [("/dashboard/", "dashboard"), ("/reports/", "reports"), ("/admin/", "admin")]:
        page.goto(f"{base}{path}")
        screenshot(page, f"pages-central-{name}-768x1024")
    page.goto(f"{base}/dashboard/")
    language(page, "en")
    for path, name in [("/dashboard/", "dashboard"), ("/reports/", "reports")]:
        page.goto(f"{base}{path}")
        screenshot(page, f"pages-central-{name}-en-768x1024")


def test_the_pages_in_english_at_the_till_size(chain, browser):
    """Screenshots only: the same pages in English on a 1280 × 800 screen, each fitting it."""
    for base, user, pages in [
        (chain.webs["B001"].url, "gerente", ["/stock/", "/stock/receive/", "/sales/"]),
        (chain.central_web.url, "jefa", ["/dashboard/", "/reports/", "/admin/"]),
    ]:
        page = logged_in(browser, base, user, viewport=TILL)
        page.goto(f"{base}{pages[0]}")
        language(page, "en")
        for path in pages:
            page.goto(f"{base}{path}")
            assert overflow(page) <= 0, path
            screenshot(page, f"pages-{user}{path.replace('/', '-').rstrip('-')}-en-1280x800")
