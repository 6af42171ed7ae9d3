/* Other stores' stock at the till: the figures of the product the cashier is looking at (the first match of a
   search, or the one chosen with the arrow keys), read from this store's replica of head office's figures
   (GET /api/v1/stock/{sku}/chain), each with how long ago it was true. A replica older than the store's threshold
   is labelled stale, never shown as current; with the store's server away the panel stays hidden. */
(() => {
  const panel = document.getElementById("chain-stock");
  const results = document.getElementById("pos-results");
  if (!panel || !results || !window.shop) return;
  const list = panel.querySelector("#chain-stock-list");
  const note = panel.querySelector("#chain-stock-note");
  const text = panel.dataset;
  const ASK_MS = 3000;
  const SHOWN = 5;
  const relative = new Intl.RelativeTimeFormat(document.documentElement.lang || "es", { numeric: "always" });

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return relative.format(-Math.round(seconds), "second");
    if (seconds < 3600) return relative.format(-Math.floor(seconds / 60), "minute");
    if (seconds < 86400) return relative.format(-Math.floor(seconds / 3600), "hour");
    return relative.format(-Math.floor(seconds / 86400), "day");
  }

  let wanted = null;

  async function show(sku) {
    if (sku === wanted) return;
    wanted = sku;
    if (!sku) {
      panel.hidden = true;
      return;
    }
    let stock, status;
    try {
      [stock, status] = await Promise.all([
        shop.api(`${text.url.replace("SKU", encodeURIComponent(sku))}`, { timeout: ASK_MS }),
        shop.api(text.statusUrl, { timeout: ASK_MS }),
      ]);
    } catch (error) {
      stock = null; // the store's server is away: nothing to show, rather than something old
    }
    if (wanted !== sku) return; // the cashier moved on meanwhile
    if (!stock || stock.status !== 200 || !Array.isArray(stock.body)) {
      panel.hidden = true;
      return;
    }
    const held = stock.body
      .filter((row) => Number(row.on_hand) > 0)
      .sort((a, b) => Number(b.on_hand) - Number(a.on_hand))
      .slice(0, SHOWN);
    list.replaceChildren(
      ...held.map((row) => {
        const item = document.createElement("li");
        item.dataset.branch = row.branch;
        item.textContent = text.row
          .replace("%(name)s", row.name)
          .replace("%(on_hand)s", shop.quantity(row.on_hand))
          .replace("%(age)s", row.as_of ? ago(row.as_of) : "–");
        return item;
      }),
    );
    const sync = status && status.status === 200 ? status.body : {};
    const never = !sync.chain_stock_as_of;
    panel.classList.toggle("stale", Boolean(sync.chain_stock_stale));
    panel.dataset.stale = sync.chain_stock_stale ? "1" : "0";
    if (never) note.textContent = text.never;
    else if (sync.chain_stock_stale) note.textContent = text.staleNote.replace("%(age)s", ago(sync.chain_stock_as_of));
    else note.textContent = held.length ? "" : text.none;
    note.hidden = !note.textContent;
    panel.dataset.sku = sku;
    panel.hidden = false;
  }

  new MutationObserver(() => show(results.firstElementChild ? results.firstElementChild.dataset.sku : null)).observe(
    results,
    { childList: true },
  );
  results.addEventListener("focusin", (event) => {
    const item = event.target.closest("li[data-sku]");
    if (item) show(item.dataset.sku);
  });
})();
