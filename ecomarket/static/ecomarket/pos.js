/* The till. Talks only to this branch's POS API, so it sells the same whether head office is up or not.
   Keyboard: F2 find, Enter add (a scanner types the barcode and Enter), ↓/↑ choose among matches, F4 payment,
   F9 or Ctrl+Enter charge, Esc clear the field (or start the next sale from the receipt).
   The register, its cash session and the keypad are till.js's (window.till); the basket and the charge are here.
   With the store's box unreachable, products are found in the catalog kept on this device and a sale goes into
   the till's queue (tillstore.js, window.tillStore) with a provisional receipt; the queue goes to the box when it
   answers again. */
"use strict";
(function () {
  const shop = window.shop;
  const root = document.getElementById("pos");
  const text = root.dataset;
  const config = JSON.parse(document.getElementById("pos-config").textContent);
  const search = document.getElementById("pos-search");
  const results = document.getElementById("pos-results");
  const basketBody = document.querySelector("#basket tbody");
  const totalOut = document.getElementById("pos-total");
  const message = document.getElementById("pos-message");
  const chargeButton = document.getElementById("pos-charge");
  const receipt = document.getElementById("receipt");
  const customerBox = document.getElementById("pos-customer");
  const customerInputs = ["name", "phone", "email"].map((key) => document.getElementById(`customer-${key}`));
  const tenderedInput = document.getElementById("pos-tendered");
  const partsBox = document.getElementById("pos-parts");
  const changeOut = document.getElementById("pos-change");
  const PARKED = "ecomarket.till.parked"; // localStorage: baskets kept on this device while others are served
  const SIGNED_OUT = "ecomarket.till.basket"; // sessionStorage: the basket across a login after the session expired

  // The basket in scan order. Each line is one row: a second bag of a weighed product is a line of its own, while the
  // sale sends one line per SKU (the quantities added up), as the protocol has it.
  // A scanned scale label's line has `label` {barcode, cents: the label's price, if it printed one}: its quantity is the
  // label's. A line may carry the cashier's `markdown` {percent | amount, reason} (pricing section below).
  const lines = []; // {product, quantity: text as typed, confirmed: the large quantity the cashier confirmed, row, input}
  let saleId = null; // kept across retries of one charge, so a retry can never sell twice
  let charging = false;
  let messageLine = null; // the line the message is about, so fixing that line clears it
  // How long the till waits for the box before it treats it as away: a hung box is as away as a stopped one. A sale
  // kept after a timeout may have reached the box all the same: its id makes the replay count it once.
  const FIND_MS = 4000;
  const CHARGE_MS = 8000;

  // ---- amounts: exact integers from the decimal strings (cents; thousandths of a unit), rounded half up like the
  // server, so the till never shows a cent the sale would not charge ----
  function scaled(decimal, places) {
    const match = /^(\d+)(?:\.(\d+))?$/.exec(String(decimal));
    if (!match || (match[2] || "").length > places) return null;
    return BigInt(match[1]) * 10n ** BigInt(places) + BigInt((match[2] || "").padEnd(places, "0") || "0");
  }
  const asDecimal = (value, places) => {
    const text = value.toString().padStart(places + 1, "0");
    return `${text.slice(0, -places)}.${text.slice(-places)}`;
  };
  const byWeight = (product) => product.unit === "kg";
  const withUnit = (product, quantity) => shop.quantity(quantity) + (byWeight(product) ? " kg" : "");

  // A large typed quantity is asked about once (a barcode or a stray key in the quantity field); scanning item after
  // item is deliberate and is never asked about.
  const large = (product, milli) => milli > scaled(config.confirm_above[product.unit] ?? config.confirm_above.unit, 3);

  /* What a line's typed quantity means: {milli, quantity (the API's decimal string), problem, kind}. `kind` is
     "typing" while the text can still become a quantity, "bad" when it cannot, "fraction" for part of a product sold
     by the unit, "large" for a large quantity not confirmed yet; `problem` is the message naming the product. */
  function check(line) {
    const name = line.product.name;
    const quantity = shop.parseQuantity(line.quantity);
    const milli = quantity === null ? null : scaled(quantity, 3);
    if (milli === null || milli === 0n) {
      const plain = String(line.quantity).trim().split(shop.formats.decimal).join(".");
      const typing = milli === null && /^\d{0,9}(\.\d{0,3})?$/.test(plain);
      const empty = byWeight(line.product) && !plain;
      return { kind: typing ? "typing" : "bad", problem: shop.fill(empty ? text.weigh : text.badQuantity, { name }) };
    }
    if (!byWeight(line.product) && milli % 1000n) return { kind: "fraction", problem: shop.fill(text.fraction, { name }) };
    if (large(line.product, milli) && line.confirmed !== quantity) {
      const problem = shop.fill(text.large, { name, quantity: withUnit(line.product, quantity) });
      return { kind: "large", problem, milli, quantity };
    }
    return { kind: "", problem: "", milli, quantity };
  }

  /* Each line's amount and the total, as the sale will charge them: per SKU the server rounds the sum of its lines,
     so the n-th bag of a product shows what the first n cost minus what the first n-1 cost, and the amounts drawn
     always add up to the total charged. A line that cannot be charged yet has no amount and adds nothing. */
  function amounts() {
    const sold = new Map(); // sku -> thousandths so far
    const each = new Map();
    let total = 0n;
    for (const line of lines) {
      const { milli } = check(line);
      if (milli === undefined) continue;
      const price = scaled(line.product.price, 2);
      const before = sold.get(line.product.sku) || 0n;
      const cost = (milli2) => (milli2 * price + 500n) / 1000n;
      sold.set(line.product.sku, before + milli);
      // A price label's line costs the price it printed.
      each.set(line, line.label && line.label.cents !== undefined ? line.label.cents : cost(before + milli) - cost(before));
      total += each.get(line);
    }
    const off = savings(each);
    for (const taken of off.values()) total -= taken.promotion + taken.markdown;
    return { each, total, off };
  }

  function say(textToShow, kind = "error", line = null) {
    message.textContent = textToShow;
    message.className = `message ${textToShow ? kind : ""}`;
    messageLine = textToShow ? line : null;
  }

  // ---- finding products ----
  const boxAway = (status) => [502, 503, 504].includes(status);

  /* Products matching a term: the box's own search while it answers; the kept catalog when it does not (those
     products are marked `kept`: their stock figure is as old as the catalog, so the till does not show it). */
  async function find(term) {
    const fromKept = async () => (await window.tillStore.catalogFind(term)).map((p) => ({ ...p, kept: true }));
    let answer;
    try {
      // The stock list is paginated ({"next", "results"}); the till shows the first 30 matches.
      answer = await shop.api(`${text.stockUrl}?page_size=30&search=${encodeURIComponent(term)}`, { timeout: FIND_MS });
    } catch (error) {
      return fromKept();
    }
    const { status, body } = answer;
    if (boxAway(status)) return fromKept();
    return status === 200 && body && Array.isArray(body.results) ? body.results : [];
  }

  function showResults(products) {
    results.replaceChildren(
      ...products.slice(0, 30).map((product, index) => {
        const item = document.createElement("li");
        item.role = "option";
        item.tabIndex = -1;
        item.id = `result-${index}`;
        item.dataset.sku = product.sku;
        item.innerHTML = '<span class="name"></span> <span class="sku"></span> <span class="price"></span> <span class="stock"></span>';
        item.querySelector(".name").textContent = product.name;
        item.querySelector(".sku").textContent = product.sku;
        item.querySelector(".price").textContent = shop.money(product.price) + (product.unit === "kg" ? " / kg" : "");
        item.querySelector(".stock").textContent = product.kept ? "" : `${shop.quantity(product.on_hand)} ${text.onHand}`;
        item.addEventListener("click", () => add(product));
        item.addEventListener("keydown", (event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            add(product);
          } else if (event.key === "ArrowDown") {
            event.preventDefault();
            (item.nextElementSibling || item).focus();
          } else if (event.key === "ArrowUp") {
            event.preventDefault();
            (item.previousElementSibling || search).focus();
          }
        });
        return item;
      }),
    );
    results.products = products;
  }

  let typing = null;
  let lookups = Promise.resolve();

  async function lookup(term) {
    const label = scaleLabel(term);
    if (label) return labelAdd(label);
    let products;
    try {
      products = await find(term);
    } catch (error) {
      return say(text.offline);
    }
    if (shop.signingIn) return; // on the way to the login page: the basket is kept, nothing "matched"
    const exact = products.find((p) => p.barcode === term || p.sku.toLowerCase() === term.toLowerCase());
    if (exact || products.length === 1) {
      add(exact || products[0]);
    } else if (products.length === 0) {
      say(shop.fill(text.noMatch, { term }));
      search.value = term;
      search.select();
    } else {
      search.value = term;
      showResults(products);
      say(text.choose, "info");
      results.firstElementChild.focus();
    }
  }

  /* Scans are looked up one after another and a charge waits for them: a scanner is faster than the network. The
     chain always goes on: a scan that failed says so, and neither the next scan nor F9 waits on it for ever. */
  function queueLookup(term) {
    lookups = lookups
      .then(() => lookup(term))
      .catch((error) => {
        console.error(error);
        say(shop.fill(text.notAdded, { term }));
      });
  }

  search.addEventListener("input", () => {
    clearTimeout(typing);
    const term = search.value.trim();
    if (!term) return showResults([]);
    typing = setTimeout(async () => showResults(await find(term)), 150);
  });

  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && results.firstElementChild) {
      event.preventDefault();
      results.firstElementChild.focus();
    } else if (event.key === "Enter" && !event.ctrlKey) {
      event.preventDefault();
      clearTimeout(typing);
      const term = search.value.trim();
      if (!term) return;
      search.value = "";
      queueLookup(term);
    } else if (event.key === "Escape") {
      search.value = "";
      showResults([]);
    }
  });

  // ---- the basket ----
  function add(product) {
    saleId = null;
    // One more of a product sold by the unit goes on its line; a weighed product is weighed again (a second bag).
    const current = byWeight(product) ? null : lines.findLast((line) => line.product.sku === product.sku && !line.label && !check(line).problem);
    let line = current;
    if (current) {
      current.quantity = String(check(current).milli / 1000n + 1n);
      current.confirmed = current.quantity; // scanned, not typed
      current.input.value = shop.quantity(current.quantity);
      mark(current);
    } else {
      line = newLine(product, byWeight(product) ? "" : "1");
    }
    if (results.products && results.products.includes(product)) search.value = ""; // chosen from the list
    showResults([]);
    say(shop.fill(text.added, { name: product.name }), "info");
    totals();
    if (byWeight(product)) {
      // A weighed item: the cashier types the weight the scale shows, then Enter goes back to scanning.
      line.input.focus();
      line.input.select();
    } else {
      search.focus();
    }
  }

  function newLine(product, quantity) {
    const row = document.createElement("tr");
    row.dataset.sku = product.sku;
    row.innerHTML =
      '<td><span class="name"></span><small class="line-note" hidden></small></td><td class="num"><input class="qty" inputmode="decimal" size="7" autocomplete="off"> <span class="unit"></span></td>' +
      '<td class="num price"></td><td class="num amount"></td><td class="line-tools"><button type="button" class="markdown">%</button> <button type="button" class="remove">✕</button></td>';
    row.querySelector(".name").textContent = product.name;
    row.querySelector(".unit").textContent = byWeight(product) ? "kg" : "";
    row.querySelector(".price").textContent = shop.money(product.price) + (byWeight(product) ? " / kg" : "");
    const input = row.querySelector("input");
    const line = { product, quantity, confirmed: null, row, input, typedFrom: quantity };
    input.value = quantity ? shop.quantity(quantity) : "";
    input.dataset.sku = product.sku;
    input.setAttribute("aria-label", shop.fill(text.quantityOf, { name: product.name }));
    input.addEventListener("focus", () => {
      line.typedFrom = line.quantity;
    });
    input.addEventListener("input", () => {
      line.quantity = input.value;
      saleId = null;
      // Checked as it is typed: a quantity that can no longer become right is marked at once, naming the product.
      const { kind, problem } = check(line);
      mark(line);
      if (kind === "bad" || kind === "fraction") say(problem, "error", line);
      else if (messageLine === line) say("");
      totals();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.ctrlKey) return;
      event.preventDefault();
      const typed = input.value.trim();
      if (/^\d{8,}$/.test(typed)) {
        // A barcode scanned while the cursor was still in this field: the line keeps its quantity, the item is added.
        line.quantity = line.typedFrom;
        input.value = line.quantity === "" ? "" : shop.quantity(shop.parseQuantity(line.quantity) ?? line.quantity);
        mark(line);
        totals();
        queueLookup(typed);
        search.focus();
        return;
      }
      if (settled(line)) {
        say("");
        search.focus();
      }
    });
    const markdownButton = row.querySelector(".markdown");
    markdownButton.setAttribute("aria-label", shop.fill(text.markdownOf, { name: product.name }));
    markdownButton.addEventListener("click", () => markdownAsk(line));
    const remove = row.querySelector(".remove");
    remove.setAttribute("aria-label", shop.fill(text.remove, { name: product.name }));
    remove.addEventListener("click", () => {
      lines.splice(lines.indexOf(line), 1);
      row.remove();
      saleId = null;
      if (messageLine === line) say("");
      totals();
      search.focus();
    });
    lines.push(line);
    basketBody.append(row);
    return line;
  }

  /* Enter on a line, or F9: a line that cannot be charged is marked and named, and keeps the cursor; a large
     quantity asked about is confirmed by a second Enter (or F9) with the same quantity. */
  function settled(line) {
    const { kind, problem, quantity } = check(line);
    if (kind === "large" && line.asked === quantity) line.confirmed = quantity;
    else if (problem) {
      line.asked = kind === "large" ? quantity : null;
      mark(line, true);
      say(problem, kind === "large" ? "ask" : "error", line);
      line.input.focus();
      return false;
    }
    mark(line);
    totals();
    return true;
  }

  // Marks what is wrong with a line; an empty weight or a half-typed number only once Enter or F9 asked for it.
  function mark(line, loud = false) {
    const { kind } = check(line);
    const wrong = kind === "bad" || kind === "fraction" || (loud && kind === "typing");
    if (wrong) line.input.setAttribute("aria-invalid", "true");
    else line.input.removeAttribute("aria-invalid");
    line.row.classList.toggle("ask", kind === "large");
  }

  function totals() {
    const { each, total, off } = amounts();
    for (const line of lines) {
      const amount = each.get(line);
      line.row.querySelector(".amount").textContent = amount === undefined ? "–" : shop.money(asDecimal(amount, 2));
    }
    notesDraw(off);
    totalOut.textContent = lines.length ? shop.money(asDecimal(total, 2)) : "–";
    tenderShow(total);
  }

  // ---- payment: one method for the whole, or part payments first and the chosen method for the rest; what the
  // customer hands over for the rest (cash) gives the change ----
  const paymentMethod = () => document.querySelector('input[name="payment"]:checked').value;

  function cents(typed) {
    const plain = String(typed).trim().split(shop.formats.decimal).join(".");
    return /^\d{1,9}(\.\d{1,2})?$/.test(plain) ? scaled(plain, 2) : null;
  }

  /* {payments, change, rest, split} for a total in cents, or {problem, input} for an amount that is not one. `split`
     is false when nothing but the method was chosen: the sale then goes as one payment of its total, as before. */
  function tender(total) {
    const parts = [...partsBox.querySelectorAll(".part")].map((row) => {
      const input = row.querySelector("input");
      return { method: row.querySelector("select").value, input, cents: cents(input.value) };
    });
    for (const part of parts) if (!part.cents) return { problem: text.badAmount, input: part.input };
    const before = parts.reduce((sum, part) => sum + part.cents, 0n);
    const typed = tenderedInput.value.trim();
    const received = typed ? cents(typed) : total > before ? total - before : 0n;
    if (received === null) return { problem: text.badAmount, input: tenderedInput };
    const byMethod = new Map();
    for (const part of [...parts, { method: paymentMethod(), cents: received }]) {
      if (part.cents > 0n) byMethod.set(part.method, (byMethod.get(part.method) || 0n) + part.cents);
    }
    const paid = [...byMethod.values()].reduce((sum, value) => sum + value, 0n);
    return {
      payments: [...byMethod].map(([method, value]) => ({ method, amount: asDecimal(value, 2) })),
      change: paid > total ? paid - total : 0n,
      rest: total > paid ? total - paid : 0n,
      split: parts.length > 0 || Boolean(typed),
    };
  }

  function tenderShow(total = amounts().total) {
    tenderedInput.closest("label").hidden = paymentMethod() !== "cash";
    const paying = tender(total);
    for (const input of [tenderedInput, ...partsBox.querySelectorAll("input")]) input.removeAttribute("aria-invalid");
    if (paying.problem) {
      if (paying.input.value.trim()) paying.input.setAttribute("aria-invalid", "true");
      changeOut.textContent = "";
    } else if (paying.split && paying.rest > 0n && lines.length) {
      changeOut.textContent = shop.fill(text.rest, { amount: shop.money(asDecimal(paying.rest, 2)) });
    } else if (paying.change > 0n && lines.length) {
      changeOut.textContent = shop.fill(text.change, { amount: shop.money(asDecimal(paying.change, 2)) });
    } else {
      changeOut.textContent = "";
    }
  }

  function partAdd() {
    const row = document.getElementById("part-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".remove").addEventListener("click", () => {
      row.remove();
      tenderShow();
    });
    for (const control of row.querySelectorAll("input, select")) control.addEventListener("input", () => tenderShow());
    partsBox.append(row);
    row.querySelector("input").focus();
  }

  function tenderClear() {
    partsBox.replaceChildren();
    tenderedInput.value = "";
    // Each sale starts on the payment the page starts with (cash), never on the last customer's card.
    for (const input of document.querySelectorAll('input[name="payment"]')) input.checked = input.defaultChecked;
    tenderShow();
  }

  // ---- charging ----
  async function charge() {
    if (charging || !receipt.hidden) return;
    charging = true;
    await lookups; // never rejects
    charging = false;
    if (!lines.length) return say(text.empty);
    for (const line of lines) if (!settled(line)) return;
    const sold = new Map(); // one sale line per SKU; a scale label goes as scanned
    for (const line of lines) {
      if (!line.label) sold.set(line.product.sku, (sold.get(line.product.sku) || 0n) + check(line).milli);
    }
    const markdowns = new Map(lines.filter((line) => line.markdown && !line.label).map((line) => [line.product.sku, line.markdown]));
    const saleLines = [
      ...[...sold].map(([sku, milli]) => ({ sku, quantity: asDecimal(milli, 3), ...(markdowns.has(sku) ? { markdown: markdowns.get(sku) } : {}) })),
      ...lines.filter((line) => line.label).map((line) => ({ barcode: line.label.barcode, sku: line.product.sku, quantity: asDecimal(check(line).milli, 3) })),
    ];
    const shown = new Map(); // per SKU, what the till shows (labels read), for a provisional receipt
    for (const line of lines) shown.set(line.product.sku, (shown.get(line.product.sku) || 0n) + check(line).milli);
    const perSku = [...shown].map(([sku, milli]) => ({ sku, quantity: asDecimal(milli, 3) }));
    const customer = customerAsked(saleLines);
    if (customer === false) return;
    const total = amounts().total;
    const paying = tender(total);
    if (paying.problem) {
      say(paying.problem);
      return paying.input.focus();
    }
    if (paying.split && paying.rest > 0n) return say(config.refusals.payments_short);
    // Where the store keeps cash sessions, the till sells only on its register's open one; the server says so too.
    const till = window.till;
    const blocked = till ? till.blocked() : "";
    if (blocked) return say(blocked);
    const register = till ? till.register() : "";
    saleId = saleId || shop.uuid();
    charging = true;
    chargeButton.disabled = true;
    const sale = {
      id: saleId,
      lines: saleLines.map(({ barcode, sku, quantity, markdown }) => (barcode ? { barcode } : { sku, quantity, ...(markdown ? { markdown } : {}) })),
      ...(saleMarkdown ? { markdown: saleMarkdown } : {}),
      ...(approval ? { approval } : {}),
      ...(paying.split ? { payments: paying.payments } : { payment_method: paymentMethod() }),
      ...(register ? { register } : {}),
      ...(customer ? { customer } : {}),
    };
    try {
      let answer = null;
      try {
        answer = await shop.api(text.salesUrl, { method: "POST", body: sale, timeout: CHARGE_MS });
      } catch (error) {
        answer = null; // no answer: the box is away (or its answer was lost)
      }
      approval = null; // typed for this attempt only, never kept
      if ((answer === null || boxAway(answer.status)) && pricedByBox(sale)) {
        say(text.needsBox); // a markdown is approved by the box alone
      } else if (answer === null || boxAway(answer.status)) {
        await keep(sale, register, total, paying, perSku);
      } else if (answer.status === 200 || answer.status === 201) {
        showReceipt(answer.body);
      } else if (answer.status === 409 && answer.body && answer.body.code === "approval_required") {
        approvalAsk();
        saleId = null;
      } else if (answer.status !== 401) {
        refused(answer.status, answer.body);
        // Refused: nothing was stored, so the next attempt (after a change) is a new sale.
        saleId = null;
      }
    } catch (error) {
      // The sale could not even be kept on this device (storage refused): say so, keep saleId for F9 again.
      console.error(error);
      say(text.offline);
    } finally {
      charging = false;
      chargeButton.disabled = false;
      if (window.shopSync) window.shopSync.refresh();
    }
  }

  /* The box did not answer: the sale goes into this till's queue under its own id, each line with the price the
     till showed (the box charges that), and the customer gets a provisional receipt, priced as the till showed it.
     `perSku`: the sale's quantities per SKU, scale labels read. */
  async function keep(sale, register, total, paying, perSku) {
    const labelled = (barcode) => lines.find((line) => line.label && line.label.barcode === barcode).product;
    const priced = sale.lines.map((line) => ({ ...line, unit_price: (line.sku ? productOf(line.sku) : labelled(line.barcode)).price }));
    const record = await window.tillStore.enqueue({ ...sale, lines: priced }, register);
    const { each } = amounts();
    const lineTotal = (line) =>
      asDecimal(lines.filter((mine) => mine.product.sku === line.sku).reduce((sum, mine) => sum + (each.get(mine) || 0n), 0n), 2);
    showReceipt(
      {
        id: record.id,
        number: record.provisional,
        created_at: record.occurred_at,
        register,
        cashier: document.querySelector("header .who")?.textContent || "",
        payments: sale.payments || [{ method: sale.payment_method, amount: asDecimal(total, 2) }],
        change: asDecimal(paying.change, 2),
        total: asDecimal(total, 2),
        lines: perSku.map((line) => ({
          sku: line.sku,
          quantity: line.quantity,
          unit_price: productOf(line.sku).price,
          line_total: lineTotal(line),
        })),
      },
      true,
    );
    await window.tillStore.badge();
  }

  // What a queued sale the box refused on replay says to the manager, in the cashier's words.
  window.tillRefusal = (body) => {
    const template = config.refusals[body.code];
    return template ? shop.fill(template, body) : body.detail || body.code;
  };

  // A kept sale the box has just confirmed: the receipt still on the screen shows its definitive number too.
  document.addEventListener("till:sent", (event) => {
    if (receipt.hidden || receipt.dataset.saleId !== event.detail.id) return;
    const number = document.getElementById("receipt-number");
    number.textContent = `#${event.detail.number} · ${number.dataset.provisional}`;
    document.getElementById("receipt-provisional").hidden = true;
  });

  // The server's refusal in the cashier's words: the product by its name, and its line marked.
  function refused(status, body) {
    const template = body && config.refusals[body.code];
    const values = Object.fromEntries(
      Object.entries(body || {}).map(([key, value]) => [key, /^-?\d+(\.\d+)?$/.test(value) ? shop.quantity(value) : value]),
    );
    const named = body && lines.find((line) => line.product.sku === body.sku);
    if (named) {
      values.sku = named.product.name;
      named.input.setAttribute("aria-invalid", "true");
    }
    if (body && ["no_open_session", "unknown_register"].includes(body.code) && window.till) window.till.refresh();
    const contactRefused = body && body.fields && body.fields.customer;
    say(contactRefused ? text.badContact : template ? shop.fill(template, values) : (body && body.detail) || `HTTP ${status}`, "error", named);
  }

  // ---- the customer of a sale that goes below zero (only where the branch's policy allows it) ----
  // Returns the contact to send (or null for none), or false when the cashier must first see the contact form.
  function customerAsked(saleLines) {
    const short = saleLines.filter((line) => Number(line.quantity) > Number(productOf(line.sku).on_hand));
    if (!config.allow_negative || !short.length) {
      customerClear();
      return null;
    }
    if (customerBox.hidden) {
      customerBox.hidden = false;
      const names = short.map((line) => productOf(line.sku).name).join(", ");
      say(shop.fill(text.oversell, { names }), "info");
      customerInputs[0].focus();
      return false;
    }
    const [name, phone, email] = customerInputs.map((input) => input.value.trim());
    if (!name && !phone && !email) return null;
    if (!phone && !email) {
      say(text.badContact);
      customerInputs[1].focus();
      return false;
    }
    return Object.fromEntries(Object.entries({ name, phone, email }).filter(([, value]) => value));
  }

  const productOf = (sku) => lines.find((line) => line.product.sku === sku)?.product;

  function customerClear() {
    customerBox.hidden = true;
    for (const input of customerInputs) input.value = "";
  }

  const methodName = (method) => config.payments[method] || method;

  function receiptRow(label, amount) {
    const row = document.createElement("tr");
    row.innerHTML = '<td></td><td class="num"></td>';
    row.cells[0].textContent = label;
    row.cells[1].textContent = shop.money(amount);
    return row;
  }

  function showReceipt(sale, provisional = false) {
    const store = config.store;
    document.getElementById("receipt-store").textContent = store.name;
    document.getElementById("receipt-address").textContent = store.address;
    document.getElementById("receipt-tax-id").textContent = store.tax_id;
    const number = document.getElementById("receipt-number");
    number.textContent = provisional ? sale.number : `#${sale.number}`;
    number.dataset.provisional = provisional ? sale.number : "";
    document.getElementById("receipt-provisional").hidden = !provisional;
    receipt.classList.toggle("provisional", provisional);
    document.getElementById("receipt-time").textContent = shop.time(sale.created_at);
    document.getElementById("receipt-register").textContent = sale.register ? `· ${sale.register}` : "";
    document.getElementById("receipt-cashier").textContent = sale.cashier;
    const payments = sale.payments && sale.payments.length ? sale.payments : [{ method: sale.payment_method, amount: sale.total }];
    document.getElementById("receipt-payment").textContent = payments.map((p) => methodName(p.method)).join(", ");
    // What each method paid; for cash, what was handed over and the change given back.
    const change = scaled(sale.change || "0", 2) || 0n;
    document.getElementById("receipt-payments").replaceChildren(
      ...payments.flatMap((p) =>
        p.method === "cash" && change > 0n
          ? [receiptRow(shop.fill(text.tendered, { method: methodName(p.method) }), asDecimal(scaled(p.amount, 2) + change, 2))]
          : [receiptRow(methodName(p.method), p.amount)],
      ),
      ...(change > 0n ? [receiptRow(text.changeLabel, sale.change)] : []),
    );
    document.getElementById("receipt-lines").replaceChildren(
      ...sale.lines.map((line) => {
        const row = document.createElement("tr");
        row.innerHTML = '<td></td><td class="num"></td><td class="num"></td>';
        row.cells[0].textContent = productOf(line.sku)?.name ?? line.sku;
        const product = productOf(line.sku);
        row.cells[1].textContent = `${product ? withUnit(product, line.quantity) : shop.quantity(line.quantity)} × ${shop.money(line.unit_price)}`;
        row.cells[2].textContent = shop.money(line.gross ?? line.line_total);
        return [row, ...receiptDiscounts(line)];
      }).flat(),
    );
    document.getElementById("receipt-total").textContent = shop.money(sale.total);
    receiptSaving(sale);
    receipt.dataset.saleId = sale.id;
    receipt.hidden = false;
    root.classList.add("done");
    say(provisional ? text.kept : "", "info");
    document.getElementById("receipt-next").focus();
  }

  function nextSale() {
    saleMarkdown = null;
    lines.length = 0;
    basketBody.replaceChildren();
    saleId = null;
    receipt.hidden = true;
    customerClear();
    tenderClear();
    root.classList.remove("done");
    totals();
    say("");
    search.focus();
  }

  // ---- pricing at the till: scale labels read here, and promotions and markdowns drawn as the box will take them
  // off (pricing/services.py); the sale's answer is what the customer pays, and the receipt shows it ----
  const promotions = Object.entries(config.promotions || {})
    .map(([id, promotion]) => ({ id, ...promotion }))
    .sort((a, b) => (a.starts_at === b.starts_at ? (a.id < b.id ? -1 : 1) : Date.parse(a.starts_at) - Date.parse(b.starts_at)));
  let saleMarkdown = null; // {percent | amount, reason}: a discount on the whole sale
  let approval = null; // a manager's login typed for the next charge only: never stored
  const saleNote = document.getElementById("pos-sale-markdown");

  const halfUp = (numerator, denominator) => (2n * numerator + denominator) / (2n * denominator);
  const percentOf = (cents, percent) => halfUp(cents * scaled(percent, 2), 10000n);
  const clamp = (value, most) => (value < 0n ? 0n : value > most ? most : value);

  /* A scale label read as the chain's formats say (SCALE_BARCODE_FORMATS): {barcode, plu, weight (grams) | price
     (cents)}, {barcode, bad} for a wrong check digit, or null when no format names it (then it is any barcode). */
  function scaleLabel(term) {
    if (!/^\d{13}$/.test(term)) return null;
    for (const format of config.scale_formats || []) {
      const prefix = Number(term.slice(0, format.prefix_digits));
      if (prefix < format.first || prefix > format.last) continue;
      const sum = [...term.slice(0, 12)].reduce((total, digit, index) => total + Number(digit) * (index % 2 ? 3 : 1), 0);
      if ((10 - (sum % 10)) % 10 !== Number(term[12])) return { barcode: term, bad: true };
      const pluEnd = format.prefix_digits + format.plu_digits;
      const value = BigInt(term.slice(pluEnd, pluEnd + format.value_digits));
      return { barcode: term, plu: String(Number(term.slice(format.prefix_digits, pluEnd))), [format.carries]: value };
    }
    return null;
  }

  // A label scanned: its product found by the label's PLU, on a line of its own with the label's quantity.
  async function labelAdd(label) {
    if (label.bad) return say(shop.fill(text.badLabel, { term: label.barcode }));
    let products;
    try {
      products = await find(label.plu);
    } catch (error) {
      return say(text.offline);
    }
    if (shop.signingIn) return;
    const product = products.find((p) => p.plu === label.plu);
    if (!product) return say(shop.fill(text.unknownPlu, { term: label.barcode, plu: label.plu }));
    const price = scaled(product.price, 2);
    // A weight label: grams are thousandths of a kilogram. A price label sells price ÷ unit price, half up to the
    // gram (to the unit for goods sold by the unit), as the box does.
    let milli = label.weight;
    if (milli === undefined) milli = price ? (byWeight(product) ? halfUp(label.price * 1000n, price) : halfUp(label.price, price) * 1000n) : 0n;
    saleId = null;
    const line = newLine(product, asDecimal(milli, 3));
    labelMark(line, label);
    showResults([]);
    say(shop.fill(text.added, { name: product.name }), "info");
    totals();
    search.focus();
  }

  function labelMark(line, label) {
    line.label = { barcode: label.barcode, ...(label.price !== undefined ? { cents: label.price } : {}) };
    line.input.readOnly = true; // the scale weighed it
    line.confirmed = line.quantity;
    line.row.classList.add("labelled");
    line.row.querySelector(".markdown").hidden = true; // a label's line takes no markdown: the sale's instead
  }

  function promotionSaving(promotion, { milli, price, gross, weighed }) {
    const groups = milli / 1000n / BigInt(promotion.buy || 1);
    let saving = 0n;
    if (promotion.kind === "percent") saving = percentOf(gross, promotion.percent);
    else if (promotion.kind === "price") saving = gross - halfUp(milli * scaled(promotion.price, 2), 1000n);
    else if (promotion.kind === "multibuy" && !weighed) saving = groups * BigInt(promotion.buy - promotion.pay) * price;
    else if (promotion.kind === "nth_percent" && !weighed) saving = percentOf(groups * price, promotion.percent);
    return clamp(saving, gross);
  }

  const markdownTaken = (markdown, net) => clamp(markdown.percent ? percentOf(net, markdown.percent) : scaled(markdown.amount, 2), net);

  /* What comes off, per SKU: the promotion in force by this till's clock that saves the most on the SKU's whole line
     (ties: the one that started first), then the line's markdown on what is left; the sale's markdown (key "") on
     what the lines are left to pay. {promotion, promotionId, markdown, last: the row that shows it}. */
  function savings(each) {
    const skus = new Map();
    for (const line of lines) {
      if (!each.has(line)) continue;
      const sku = skus.get(line.product.sku) || { milli: 0n, gross: 0n, last: null, marked: null, product: line.product };
      sku.milli += check(line).milli;
      sku.gross += each.get(line);
      sku.last = line;
      if (line.markdown && !line.label) sku.marked = line;
      skus.set(line.product.sku, sku);
    }
    const now = Date.now();
    const off = new Map();
    let left = 0n;
    for (const [code, sku] of skus) {
      const figures = { milli: sku.milli, price: scaled(sku.product.price, 2), gross: sku.gross, weighed: byWeight(sku.product) };
      let best = { promotion: 0n, promotionId: null };
      for (const promotion of promotions) {
        if (!promotion.skus.includes(code) || Date.parse(promotion.starts_at) > now || Date.parse(promotion.ends_at) <= now) continue;
        const saving = promotionSaving(promotion, figures);
        if (saving > best.promotion) best = { promotion: saving, promotionId: promotion.id };
      }
      const net = sku.gross - best.promotion;
      const markdown = sku.marked ? markdownTaken(sku.marked.markdown, net) : 0n;
      off.set(code, { ...best, markdown, last: sku.last, marked: sku.marked });
      left += net - markdown;
    }
    if (saleMarkdown && left > 0n) off.set("", { promotion: 0n, markdown: markdownTaken(saleMarkdown, left) });
    return off;
  }

  const markdownWords = (markdown) =>
    `${markdown.reason} (${markdown.percent ? `−${shop.quantity(markdown.percent)} %` : `−${shop.money(markdown.amount)}`})`;
  const promotionName = (id) => (config.promotions && config.promotions[id] ? config.promotions[id].name : text.promotion);

  // Each line's note: its scale label, the promotion its SKU gets and the markdown asked, with what they take off.
  function notesDraw(off) {
    for (const line of lines) {
      const taken = off.get(line.product.sku);
      const parts = line.label ? [shop.fill(text.scaleLabel, { barcode: line.label.barcode })] : [];
      if (taken && taken.last === line && taken.promotion) {
        parts.push(`${promotionName(taken.promotionId)} −${shop.money(asDecimal(taken.promotion, 2))}`);
      }
      if (line.markdown && !line.label) {
        const amount = taken && taken.marked === line ? ` −${shop.money(asDecimal(taken.markdown, 2))}` : "";
        parts.push(markdownWords(line.markdown) + amount);
      }
      const note = line.row.querySelector(".line-note");
      note.textContent = parts.join(" · ");
      note.hidden = !parts.length;
      line.row.querySelector(".markdown").setAttribute("aria-pressed", String(Boolean(line.markdown)));
    }
    const sale = off.get("");
    saleNote.hidden = !saleMarkdown;
    saleNote.textContent = saleMarkdown ? `${text.saleMarkdown}: ${markdownWords(saleMarkdown)}${sale ? ` −${shop.money(asDecimal(sale.markdown, 2))}` : ""}` : "";
  }

  // A markdown or price override asked for a line (or, with no line, the whole sale): percent or amount off, and why.
  const markdownDialog = document.getElementById("markdown-dialog");
  let markdownFor = null;

  function markdownAsk(line = null) {
    if (!receipt.hidden) return;
    markdownFor = line;
    const current = line ? line.markdown : saleMarkdown;
    document.getElementById("markdown-dialog-title").textContent = line ? shop.fill(text.markdownOf, { name: line.product.name }) : text.saleMarkdown;
    document.querySelector(`input[name="markdown-kind"][value="${current && current.amount ? "amount" : "percent"}"]`).checked = true;
    const value = current ? current.percent || current.amount : "";
    document.getElementById("markdown-value").value = value ? shop.quantity(value) : "";
    document.getElementById("markdown-reason").value = current ? current.reason : "";
    document.getElementById("markdown-message").textContent = "";
    document.getElementById("markdown-remove").hidden = !current;
    markdownDialog.showModal();
    document.getElementById("markdown-value").focus();
  }

  function markdownSet(markdown) {
    if (markdownFor) markdownFor.markdown = markdown;
    else saleMarkdown = markdown;
    saleId = null; // another sale now
    markdownDialog.close();
    totals();
    search.focus();
  }

  document.getElementById("markdown-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = document.querySelector('input[name="markdown-kind"]:checked').value;
    const typed = cents(document.getElementById("markdown-value").value);
    const reason = document.getElementById("markdown-reason").value.trim();
    const message = document.getElementById("markdown-message");
    if (!typed || (kind === "percent" && typed > 10000n)) return (message.textContent = text.badMarkdown);
    if (!reason) return (message.textContent = text.markdownReason);
    markdownSet({ [kind]: asDecimal(typed, 2), reason });
  });
  document.getElementById("markdown-remove").addEventListener("click", () => markdownSet(null));
  document.getElementById("pos-markdown").addEventListener("click", () => markdownAsk(null));

  // The box asked for a manager: one types their login on this till, and the sale is charged again with it.
  const approvalDialog = document.getElementById("markdown-approval-dialog");

  function approvalAsk() {
    say(text.markdownApproval, "ask");
    document.getElementById("markdown-approval-username").value = "";
    document.getElementById("markdown-approval-password").value = "";
    approvalDialog.showModal();
    document.getElementById("markdown-approval-username").focus();
  }

  document.getElementById("markdown-approval-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const username = document.getElementById("markdown-approval-username").value.trim();
    const password = document.getElementById("markdown-approval-password").value;
    if (!username || !password) return;
    approval = { username, password };
    approvalDialog.close();
    charge();
  });
  for (const dialog of [markdownDialog, approvalDialog]) {
    dialog.querySelector("[data-cancel]").addEventListener("click", () => {
      dialog.close();
      search.focus();
    });
  }

  // A sale with a markdown is approved by the box: never kept on the till for later. A scale label is read here and
  // kept like any line, priced as the till showed it.
  const pricedByBox = (sale) => Boolean(sale.markdown) || sale.lines.some((line) => line.markdown);

  // Under a receipt line: what its promotion and the markdowns took off.
  function receiptDiscounts(line) {
    const taken = scaled(line.markdown_discount || "0", 2) || 0n;
    const promotion = (scaled(line.discount || "0", 2) || 0n) - taken;
    const rows = [];
    if (promotion > 0n) rows.push(receiptRow(`  ${line.promotion_id ? promotionName(line.promotion_id) : text.promotion}`, `-${asDecimal(promotion, 2)}`));
    if (taken > 0n) rows.push(receiptRow(`  ${line.markdown ? markdownWords(line.markdown) : text.saleMarkdown}`, `-${asDecimal(taken, 2)}`));
    for (const row of rows) {
      row.classList.add("discount");
      row.cells[0].colSpan = 2;
    }
    return rows;
  }

  function receiptSaving(sale) {
    const saving = document.getElementById("receipt-saving");
    const cents = scaled(sale.saving || "0", 2) || 0n;
    saving.hidden = cents === 0n;
    document.getElementById("receipt-saving-amount").textContent = shop.money(sale.saving || "0");
    document.getElementById("receipt-approved").textContent = sale.markdown_approved_by ? shop.fill(text.approvedBy, { name: sale.markdown_approved_by }) : "";
  }

  // ---- park and recall: a basket kept on this device (localStorage, so a reload keeps it) while the next customer
  // is served; recalling one parks the basket on the till, if any, so nothing is ever thrown away ----
  // Quantities kept in the API's form, so a basket recalled after the page changed language reads the same.
  const basketState = () =>
    lines.map((line) => ({
      product: line.product,
      quantity: shop.parseQuantity(line.quantity) ?? line.quantity,
      confirmed: line.confirmed,
      ...(line.label ? { label: line.label.barcode } : {}),
      ...(line.markdown ? { markdown: line.markdown } : {}),
    }));

  function basketLoad(state) {
    for (const item of state) {
      const line = newLine(item.product, item.quantity);
      line.confirmed = item.confirmed;
      const label = item.label ? scaleLabel(item.label) : null;
      if (label && !label.bad) labelMark(line, label);
      if (item.markdown) line.markdown = item.markdown;
      mark(line);
    }
    totals();
  }

  function basketClear() {
    saleMarkdown = null;
    lines.length = 0;
    basketBody.replaceChildren();
    saleId = null;
    customerClear();
    tenderClear();
    totals();
  }

  function parkedRead() {
    try {
      const parked = JSON.parse(localStorage.getItem(PARKED) || "[]");
      return Array.isArray(parked) ? parked : [];
    } catch (error) {
      return [];
    }
  }

  function parkedWrite(parked) {
    localStorage.setItem(PARKED, JSON.stringify(parked));
    document.getElementById("parked-count").textContent = parked.length ? `(${parked.length})` : "";
  }

  async function park() {
    if (!receipt.hidden) return;
    await lookups; // what was scanned just before goes with this basket
    if (!receipt.hidden) return;
    if (!lines.length) return say(text.empty);
    const total = amounts().total;
    parkedWrite([...parkedRead(), { id: shop.uuid(), at: new Date().toISOString(), total: asDecimal(total, 2), lines: basketState() }]);
    basketClear();
    say(text.parked, "info");
    search.focus();
  }

  function recallShow() {
    if (!receipt.hidden) nextSale();
    const parked = parkedRead();
    const list = document.getElementById("parked-list");
    list.replaceChildren(
      ...parked.map((basket) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.parked = basket.id;
        const count = basket.lines.length;
        button.textContent = shop.fill(text.parkedItem, { time: shop.clock(basket.at), count, total: shop.money(basket.total) });
        button.title = basket.lines.map((line) => line.product.name).join(", ");
        button.addEventListener("click", () => recall(basket.id));
        item.append(button);
        return item;
      }),
    );
    if (!parked.length) return say(text.nothingParked, "info");
    document.getElementById("recall-dialog").showModal();
  }

  function recall(id) {
    document.getElementById("recall-dialog").close();
    const parked = parkedRead();
    const chosen = parked.find((basket) => basket.id === id);
    if (!chosen) return;
    const kept = parked.filter((basket) => basket.id !== id);
    if (lines.length) kept.push({ id: shop.uuid(), at: new Date().toISOString(), total: asDecimal(amounts().total, 2), lines: basketState() });
    parkedWrite(kept);
    basketClear();
    basketLoad(chosen.lines);
    say(text.recalled, "info");
    search.focus();
  }

  document.getElementById("pos-park").addEventListener("click", park);
  document.getElementById("pos-recall").addEventListener("click", recallShow);
  parkedWrite(parkedRead());

  // ---- a staff session that expired: the API answers 401 and shop.api sends the cashier to the login page; the
  // basket waits in this tab's sessionStorage and comes back after the login ----
  shop.beforeLogin = () => {
    if (lines.length && receipt.hidden) sessionStorage.setItem(SIGNED_OUT, JSON.stringify(basketState()));
  };
  try {
    const kept = JSON.parse(sessionStorage.getItem(SIGNED_OUT) || "null");
    sessionStorage.removeItem(SIGNED_OUT);
    if (Array.isArray(kept) && kept.length) {
      basketLoad(kept);
      say(text.restored, "info");
    }
  } catch (error) {
    sessionStorage.removeItem(SIGNED_OUT);
  }

  for (const input of document.querySelectorAll('input[name="payment"]')) input.addEventListener("change", () => tenderShow());
  tenderedInput.addEventListener("input", () => tenderShow());
  document.getElementById("pos-split").addEventListener("click", partAdd);
  chargeButton.addEventListener("click", charge);
  document.getElementById("receipt-next").addEventListener("click", nextSale);
  document.getElementById("receipt-print").addEventListener("click", () => window.print());
  document.addEventListener("keydown", (event) => {
    if (event.key === "F2") {
      event.preventDefault();
      if (!receipt.hidden) nextSale();
      search.focus();
    } else if (event.key === "F4") {
      event.preventDefault();
      document.querySelector('input[name="payment"]:checked').focus();
    } else if (event.key === "F9" || (event.key === "Enter" && event.ctrlKey)) {
      event.preventDefault();
      charge();
    } else if (event.key === "F7") {
      event.preventDefault();
      park();
    } else if (event.key === "F8") {
      event.preventDefault();
      recallShow();
    } else if (event.key === "Escape" && !receipt.hidden) {
      event.preventDefault();
      nextSale();
    }
  });
  // A product by its SKU, as if scanned (the quick keys' way in: quickkeys.js); from a receipt, the next sale.
  window.tillAdd = (sku) => {
    if (!receipt.hidden) nextSale();
    queueLookup(sku);
  };
  totals();
})();
