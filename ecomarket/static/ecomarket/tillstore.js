/* What the till keeps in the browser (IndexedDB) so it sells while the store's box is unreachable: the catalog as
   the box last gave it (prices, barcodes, units), the register's open cash session as last seen, and the queue of
   sales the box did not answer, each under the id the till chose for it. The queue goes to the box in the order
   the sales were made; each sale leaves the queue only once the box has confirmed it, and then is kept beside its
   definitive number. A sale sent twice is stored once: the box answers a known id with the sale it already has.
   A queued sale goes with the till's time of it and the number on its provisional receipt (`queued`), and its lines
   with the prices the till showed. Scale labels are read here too, so a label scanned with the box away finds its
   product by PLU in the kept catalog. Registers the till's service worker too. Used by pos.js and till.js as
   window.tillStore. */
"use strict";
(function () {
  const shop = window.shop;
  const root = document.getElementById("pos");
  const text = root.dataset;
  const config = JSON.parse(document.getElementById("pos-config").textContent);
  const DB = "ecomarket-till";
  const DEVICE = "ecomarket.till.device"; // localStorage: this device's short tag, in its provisional numbers
  const REPLAY_EVERY_MS = 3000;
  const CATALOG_EVERY_MS = 5 * 60 * 1000;
  const HEALTH = "/healthz"; // the box's cheapest answer: is it there at all
  const HEALTH_MS = 3000;

  // ---- IndexedDB, as promises ----
  const opened = new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("catalog", { keyPath: "sku" });
      db.createObjectStore("meta");
      db.createObjectStore("queue", { keyPath: "id" });
      db.createObjectStore("sent", { keyPath: "id" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

  async function run(stores, mode, work) {
    const db = await opened;
    return new Promise((resolve, reject) => {
      const tx = db.transaction(stores, mode);
      let result;
      Promise.resolve(work(tx, (request) => new Promise((ok, fail) => {
        request.onsuccess = () => ok(request.result);
        request.onerror = () => fail(request.error);
      }))).then((value) => (result = value), reject);
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  const metaGet = (key) => run(["meta"], "readonly", (tx, done) => done(tx.objectStore("meta").get(key)));
  const metaPut = (key, value) => run(["meta"], "readwrite", (tx) => tx.objectStore("meta").put(value, key));

  // ---- the catalog: the whole of it, page after page, written in one go so a half-read one never replaces it ----
  async function catalogRefresh() {
    const products = [];
    let url = `${text.stockUrl}?page_size=1000`;
    while (url) {
      const { status, body } = await shop.api(url);
      if (status !== 200 || !body) return false;
      products.push(...body.results);
      url = body.next;
    }
    const at = new Date().toISOString();
    await run(["catalog", "meta"], "readwrite", (tx) => {
      const catalog = tx.objectStore("catalog");
      catalog.clear();
      for (const product of products) catalog.put(product);
      tx.objectStore("meta").put(at, "catalog_at");
    });
    root.dataset.catalogAt = at;
    return true;
  }

  /* The products a term finds in the kept catalog, as the box's search would: an exact barcode, SKU or PLU (a scale
     label's product: pos.js reads the label and asks for its PLU), then the names and SKUs containing it. */
  async function catalogFind(term) {
    const all = await run(["catalog"], "readonly", (tx, done) => done(tx.objectStore("catalog").getAll()));
    const lower = term.toLowerCase();
    const exact = all.filter((p) => p.barcode === term || p.plu === term || p.sku.toLowerCase() === lower);
    if (exact.length) return exact;
    return all.filter((p) => p.name.toLowerCase().includes(lower) || p.sku.toLowerCase().includes(lower)).slice(0, 30);
  }

  // ---- the queue ----
  function device() {
    let tag = localStorage.getItem(DEVICE);
    if (!tag) {
      tag = shop.uuid().slice(0, 4).toUpperCase();
      localStorage.setItem(DEVICE, tag);
    }
    return tag;
  }

  /* Keeps a sale the box did not answer, with the time it was made and a provisional number: the register, this
     device's tag (two tills can share a register) and a counter that only goes up. Returns the kept record. */
  async function enqueue(body, register) {
    return run(["queue", "meta"], "readwrite", async (tx, done) => {
      const meta = tx.objectStore("meta");
      const counter = ((await done(meta.get("counter"))) || 0) + 1;
      meta.put(counter, "counter");
      const record = {
        id: body.id,
        body,
        seq: counter,
        provisional: `${register || "P"}-${device()}-${String(counter).padStart(4, "0")}`,
        occurred_at: new Date().toISOString(),
        refused: null,
      };
      tx.objectStore("queue").put(record);
      return record;
    });
  }

  const queued = () =>
    run(["queue"], "readonly", (tx, done) => done(tx.objectStore("queue").getAll())).then((all) =>
      all.sort((a, b) => a.seq - b.seq),
    );
  const sent = () => run(["sent"], "readonly", (tx, done) => done(tx.objectStore("sent").getAll()));

  // The cashier's words for a count: singular for 1, plural otherwise (Spanish and English alike).
  const counted = (forms, count) => shop.fill(forms[count === 1 ? 0 : 1], { count: String(count) });

  /* The badge: how many sales wait at this till for the box, and how many the box refused (a manager's matter). */
  async function badge() {
    const out = document.getElementById("till-queue");
    if (!out) return;
    const all = await queued();
    const refused = all.filter((record) => record.refused).length;
    const waiting = all.length - refused;
    out.dataset.count = String(waiting);
    out.dataset.refused = String(refused);
    out.hidden = !all.length;
    out.textContent = [
      waiting ? counted(config.queue.waiting, waiting) : "",
      refused ? counted(config.queue.refused, refused) : "",
    ]
      .filter(Boolean)
      .join(" · ");
    out.title = all
      .filter((record) => record.refused)
      .map((record) => `${record.provisional}: ${record.refused}`)
      .join("\n");
  }

  let replaying = false;

  /* Sends the waiting sales in the order they were made, one at a time, each as `queued`: the till's time of it and
     its provisional number (the box dates it so and keeps the number; it takes the prices the till showed, and
     never refuses one for stock). A sale leaves the queue, into `sent` with its definitive number, in the same
     transaction and only after the box answered it with the sale; no answer stops the round (the next one starts
     where this one stopped). A sale the box refuses stays, marked, for a manager: it was handed to the customer, so
     it is never thrown away. */
  async function replay() {
    if (replaying) return;
    replaying = true;
    try {
      for (const record of await queued()) {
        if (record.refused) continue;
        let answer;
        try {
          const queued = { occurred_at: record.occurred_at, provisional_number: record.provisional };
          answer = await shop.api(text.salesUrl, { method: "POST", body: { ...record.body, queued } });
        } catch (error) {
          return;
        }
        if ([502, 503, 504].includes(answer.status) || answer.status === 401) return;
        if (answer.status === 200 || answer.status === 201) {
          await run(["queue", "sent"], "readwrite", (tx) => {
            tx.objectStore("queue").delete(record.id);
            tx.objectStore("sent").put({
              id: record.id,
              provisional: record.provisional,
              number: answer.body.number,
              occurred_at: record.occurred_at,
              recorded_at: answer.body.created_at,
            });
          });
          document.dispatchEvent(new CustomEvent("till:sent", { detail: { id: record.id, number: answer.body.number } }));
        } else {
          const body = answer.body;
          const reason = (body && body.code && window.tillRefusal && window.tillRefusal(body)) || `HTTP ${answer.status}`;
          await run(["queue"], "readwrite", (tx) => tx.objectStore("queue").put({ ...record, refused: reason }));
        }
      }
    } finally {
      replaying = false;
      await badge();
    }
  }

  async function tick() {
    try {
      await replay();
    } finally {
      setTimeout(tick, REPLAY_EVERY_MS);
    }
  }

  async function catalogTick() {
    try {
      await catalogRefresh();
    } catch (error) {
      // The box is away: the kept catalog stays as it was.
    } finally {
      setTimeout(catalogTick, CATALOG_EVERY_MS);
    }
  }

  window.tillStore = {
    catalogRefresh,
    catalogFind,
    enqueue,
    queued,
    sent,
    replay,
    badge,
    /* The register's open session as the box last gave it, with the time the box gave it. */
    sessionKept: (register) => metaGet(`session:${register}`),
    sessionKeep: (register, session) =>
      metaPut(`session:${register}`, { session, at: new Date().toISOString() }),
  };

  /* Voids and returns (the sales pages), counts, goods receipts and the drawer's pages are the box's own: a link
     to one with the box away would open the browser's error page. The till asks the box first; if it does not
     answer, the till says so and stays on the till. Nothing of theirs is queued. */
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname === window.location.pathname) return;
    event.preventDefault();
    let answered = false;
    try {
      const response = await fetch(HEALTH, { cache: "no-store", signal: AbortSignal.timeout(HEALTH_MS) });
      answered = ![502, 503, 504].includes(response.status);
    } catch (error) {
      answered = false;
    }
    if (answered) window.location.assign(url);
    else if (window.till) window.till.message(text.needsBox);
  });

  metaGet("catalog_at").then((at) => {
    if (at && !root.dataset.catalogAt) root.dataset.catalogAt = at;
  });
  badge();
  catalogTick();
  tick();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(text.serviceWorker).catch((error) => console.error(error));
  }
})();
