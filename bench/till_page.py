"""The till page as a cashier feels it: the time from a scan to its line on screen, and from F9 to the receipt, in
Debian's Chromium (Playwright) against a real store box (gunicorn, Celery worker and beat on SQLite) and head office.

    .venv/bin/python bench/till_page.py            (or: make bench-till)

A chain of real processes on loopback (harness/chain.py: central on PostgreSQL at BENCH_POSTGRES_URL, store B001),
a cashier logged in through the login form on a till pinned to T1 with its drawer open, TILL_BENCH_WARMUP sales
(default 10) not counted, then TILL_BENCH_SALES (default 200) sales of three packaged products scanned by barcode
and charged with F9. Each time is taken inside the page (``performance.now()``): from the scanner's Enter to the
frame after the basket drew the new line, and from F9 to the frame after the receipt showed; Playwright's own
round trips are not in it. Prints median, p95 and max of each and the load average; the seed prototype has no till
page, so there is nothing of it to run beside this.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import load_average, stamp, table  # noqa: E402

from harness.chain import ProcessChain  # noqa: E402

SALES = int(os.environ.get("TILL_BENCH_SALES", 200))
WARMUP = int(os.environ.get("TILL_BENCH_WARMUP", 10))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "una-clave-de-bench"
# Three packaged products of the demo catalog (inventory/demo.py): rice, oil, milk.
BARCODES = {"ALM-ARROZ-1K": "7790070318022", "ALM-ACEITE-1L": "7790272001005", "LAC-LECHE-1L": "7790742023001"}
REGISTER_KEY = "ecomarket.till.register"

# One scan: the scanner's text and Enter in the search field, until the frame after the basket gained a line.
SCAN = """async (code) => {
  const search = document.getElementById("pos-search");
  const basket = document.getElementById("basket");
  const lines = () => basket.querySelectorAll("input[data-sku]").length;
  const before = lines();
  const start = performance.now();
  const drawn = new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (lines() > before) { observer.disconnect(); resolve(); }
    });
    observer.observe(basket, { childList: true, subtree: true });
    setTimeout(() => { observer.disconnect(); reject(new Error("no line for " + code)); }, 15000);
  });
  search.value = code;
  search.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  await drawn;
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - start;
}"""

# One charge: F9, until the frame after the receipt showed its number.
CHARGE = """async () => {
  const receipt = document.getElementById("receipt");
  const start = performance.now();
  const shown = new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (!receipt.hidden) { observer.disconnect(); resolve(); }
    });
    observer.observe(receipt, { attributes: true, attributeFilter: ["hidden"] });
    const said = () => document.getElementById("pos-message").textContent;
    setTimeout(() => { observer.disconnect(); reject(new Error("no receipt: " + said())); }, 15000);
  });
  document.dispatchEvent(new KeyboardEvent("keydown", { key: "F9", bubbles: true }));
  await shown;
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - start;
}"""

# The next customer: F2 closes the receipt and puts the cursor in the search field.
NEXT = """() => document.dispatchEvent(new KeyboardEvent("keydown", { key: "F2", bubbles: true }))"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    from playwright.sync_api import sync_playwright

    print(f"{stamp()}: the till page, scan to line and F9 to receipt; load average {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ecm-bench-till-") as scratch:
        chain = ProcessChain(
            Path(scratch),
            branches=("B001",),
            postgres_url=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        )
        chain.prepare()
        chain.branch_nodes["B001"].manage("create_staff", "caja", "--role", "cashier", "--password", PASSWORD)
        chain.start()
        try:
            base = chain.webs["B001"].url
            opened = chain.pos("B001").post(
                f"{base}/api/v1/cash-sessions", json={"register": "T1", "opening_float": "100.00"}, timeout=30
            )
            opened.raise_for_status()
            chain.receive("B001", {sku: str(2 * (SALES + WARMUP)) for sku in BARCODES})
            scans, charges = [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.add_init_script(f"localStorage.setItem('{REGISTER_KEY}', 'T1');")
                page = context.new_page()
                page.goto(f"{base}/login/")
                page.keyboard.type("caja")
                page.keyboard.press("Tab")
                page.keyboard.type(PASSWORD)
                page.keyboard.press("Enter")
                page.wait_for_url(f"{base}/pos/")
                page.locator('#till[data-checked="true"]').wait_for(state="attached")
                started = time.monotonic()
                for sale in range(WARMUP + SALES):
                    taken = [page.evaluate(SCAN, code) for code in BARCODES.values()]
                    charged = page.evaluate(CHARGE)
                    page.evaluate(NEXT)
                    if sale >= WARMUP:
                        scans.extend(taken)
                        charges.append(charged)
                elapsed = time.monotonic() - started
                browser.close()
        finally:
            chain.stop()

    rows = [
        [name, len(values), f"{statistics.median(values):.1f}", f"{percentile(values, 0.95):.1f}", f"{max(values):.1f}"]
        for name, values in (("scan to line on screen", scans), ("F9 to receipt", charges))
    ]
    print(table(["", "n", "median ms", "p95 ms", "max ms"], rows))
    print(f"{SALES} sales (+{WARMUP} warm-up) in {elapsed:.1f} s; load average {load_average()}; {stamp()}")


if __name__ == "__main__":
    main()
