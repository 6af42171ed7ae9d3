/* The till. Talks only to this branch's POS API, so it sells the same whether head office is up or not.
   Keyboard: F2 find, Enter add (a scanner types the barcode and Enter), ↓/↑ choose among matches, F4 payment,
   F9 or Ctrl+Enter charge, Esc clear the field (or start the next sale from the receipt). */
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

  const basket = new Map(); // sku -> {product, quantity: text as typed}
  let saleId = null; // kept across retries of one charge, so a retry can never sell twice
  let charging = false;

  // ---- amounts: cents and thousandths as integers, rounded half up like the server ----
  const cents = (price) => BigInt(Math.round(Number(price) * 100));
  const thousandths = (quantity) => BigInt(Math.round(Number(quantity) * 1000));
  function lineCents(item) {
    const quantity = shop.parseQuantity(item.quantity);
    if (quantity === null) return null;
    return (cents(item.product.price) * thousandths(quantity) + 500n) / 1000n;
  }
  const asDecimal = (c) => `${c < 0n ? "-" : ""}${(c < 0n ? -c : c) / 100n}.${String((c < 0n ? -c : c) % 100n).padStart(2, "0")}`;

  function say(textToShow, kind = "error") {
    message.textContent = textToShow;
    message.className = `message ${textToShow ? kind : ""}`;
  }

  // ---- finding products ----
  async function find(term) {
    // The stock list is paginated ({"next", "results"}); the till shows the first 30 matches.
    const { status, body } = await shop.api(`${text.stockUrl}?page_size=30&search=${encodeURIComponent(term)}`);
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
        item.querySelector(".stock").textContent = `${shop.quantity(product.on_hand)} ${text.onHand}`;
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
    let products;
    try {
      products = await find(term);
    } catch (error) {
      return say(text.offline);
    }
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
  search.addEventListener("input", () => {
    clearTimeout(typing);
    const term = search.value.trim();
    if (!term) return showResults([]);
    typing = setTimeout(async () => showResults(await find(term)), 150);
  });

  search.addEventListener("keydown", async (event) => {
    if (event.key === "ArrowDown" && results.firstElementChild) {
      event.preventDefault();
      results.firstElementChild.focus();
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(typing);
      const term = search.value.trim();
      if (!term) return;
      search.value = "";
      // Scans are looked up one after another and a charge waits for them: a scanner is faster than the network.
      lookups = lookups.then(() => lookup(term));
    } else if (event.key === "Escape") {
      search.value = "";
      showResults([]);
    }
  });

  // ---- the basket ----
  function add(product) {
    saleId = null;
    const current = basket.get(product.sku);
    const byWeight = product.unit === "kg";
    if (current && !byWeight) {
      current.quantity = String(Number(shop.parseQuantity(current.quantity) || 0) + 1);
    } else if (!current) {
      basket.set(product.sku, { product, quantity: byWeight ? "" : "1" });
    }
    if (results.products && results.products.includes(product)) search.value = ""; // chosen from the list
    showResults([]);
    say(shop.fill(text.added, { name: product.name }), "info");
    render();
    if (byWeight) {
      // A weighed item: the cashier types the weight the scale shows, then Enter goes back to scanning.
      const input = basketBody.querySelector(`input[data-sku="${CSS.escape(product.sku)}"]`);
      input.focus();
      input.select();
    } else {
      search.focus();
    }
  }

  function render() {
    basketBody.replaceChildren(
      ...[...basket.values()].map((item) => {
        const row = document.createElement("tr");
        row.dataset.sku = item.product.sku;
        row.innerHTML =
          '<td class="name"></td><td class="num"><input class="qty" inputmode="decimal" size="7"> <span class="unit"></span></td>' +
          '<td class="num price"></td><td class="num amount"></td><td><button type="button" class="remove">✕</button></td>';
        row.querySelector(".name").textContent = item.product.name;
        row.querySelector(".unit").textContent = item.product.unit === "kg" ? "kg" : "";
        row.querySelector(".price").textContent = shop.money(item.product.price);
        const input = row.querySelector("input");
        input.value = item.quantity === "" ? "" : shop.quantity(shop.parseQuantity(item.quantity) ?? item.quantity);
        input.dataset.sku = item.product.sku;
        input.setAttribute("aria-label", shop.fill(text.quantityOf, { name: item.product.name }));
        input.addEventListener("input", () => {
          item.quantity = input.value;
          saleId = null;
          totals();
        });
        input.addEventListener("keydown", (event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            if (shop.parseQuantity(input.value) === null || Number(shop.parseQuantity(input.value)) <= 0) {
              input.setAttribute("aria-invalid", "true");
              say(shop.fill(text.badQuantity, { name: item.product.name }));
              return;
            }
            input.removeAttribute("aria-invalid");
            say("");
            search.focus();
          }
        });
        const remove = row.querySelector(".remove");
        remove.setAttribute("aria-label", shop.fill(text.remove, { name: item.product.name }));
        remove.addEventListener("click", () => {
          basket.delete(item.product.sku);
          saleId = null;
          render();
          search.focus();
        });
        return row;
      }),
    );
    totals();
  }

  function totals() {
    let sum = 0n;
    for (const row of basketBody.rows) {
      const amount = lineCents(basket.get(row.dataset.sku));
      row.querySelector(".amount").textContent = amount === null ? "–" : shop.money(asDecimal(amount));
      sum += amount || 0n;
    }
    totalOut.textContent = basket.size ? shop.money(asDecimal(sum)) : "–";
  }

  // ---- charging ----
  async function charge() {
    if (charging || !receipt.hidden) return;
    charging = true;
    await lookups;
    charging = false;
    if (!basket.size) return say(text.empty);
    const lines = [];
    for (const item of basket.values()) {
      const quantity = shop.parseQuantity(item.quantity);
      if (quantity === null || Number(quantity) <= 0) {
        say(shop.fill(text.badQuantity, { name: item.product.name }));
        const input = basketBody.querySelector(`input[data-sku="${CSS.escape(item.product.sku)}"]`);
        input.setAttribute("aria-invalid", "true");
        return input.focus();
      }
      lines.push({ sku: item.product.sku, quantity });
    }
    const customer = customerAsked(lines);
    if (customer === false) return;
    const payment = document.querySelector('input[name="payment"]:checked').value;
    saleId = saleId || shop.uuid();
    charging = true;
    chargeButton.disabled = true;
    try {
      const { status, body } = await shop.api(text.salesUrl, {
        method: "POST",
        body: { id: saleId, lines, payment_method: payment, ...(customer ? { customer } : {}) },
      });
      if (status === 200 || status === 201) {
        showReceipt(body);
      } else {
        const template = body && config.refusals[body.code];
        const values = Object.fromEntries(
          Object.entries(body || {}).map(([key, value]) => [key, /^-?\d+(\.\d+)?$/.test(value) ? shop.quantity(value) : value]),
        );
        const contactRefused = body && body.fields && body.fields.customer;
        say(contactRefused ? text.badContact : template ? shop.fill(template, values) : (body && body.detail) || `HTTP ${status}`);
        // Refused: nothing was stored, so the next attempt (after a change) is a new sale.
        saleId = null;
      }
    } catch (error) {
      say(text.offline); // unknown outcome: keep saleId, so pressing F9 again cannot sell twice
    } finally {
      charging = false;
      chargeButton.disabled = false;
      if (window.shopSync) window.shopSync.refresh();
    }
  }

  // ---- the customer of a sale that goes below zero (only where the branch's policy allows it) ----
  // Returns the contact to send (or null for none), or false when the cashier must first see the contact form.
  function customerAsked(lines) {
    const short = lines.filter((line) => Number(line.quantity) > Number(basket.get(line.sku).product.on_hand));
    if (!config.allow_negative || !short.length) {
      customerClear();
      return null;
    }
    if (customerBox.hidden) {
      customerBox.hidden = false;
      const names = short.map((line) => basket.get(line.sku).product.name).join(", ");
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

  function customerClear() {
    customerBox.hidden = true;
    for (const input of customerInputs) input.value = "";
  }

  function showReceipt(sale) {
    document.getElementById("receipt-number").textContent = `#${sale.number}`;
    document.getElementById("receipt-time").textContent = shop.time(sale.created_at);
    document.getElementById("receipt-cashier").textContent = sale.cashier;
    document.getElementById("receipt-payment").textContent = config.payments[sale.payment_method] || sale.payment_method;
    document.getElementById("receipt-lines").replaceChildren(
      ...sale.lines.map((line) => {
        const row = document.createElement("tr");
        row.innerHTML = '<td></td><td class="num"></td><td class="num"></td>';
        const name = basket.get(line.sku) ? basket.get(line.sku).product.name : line.sku;
        row.cells[0].textContent = name;
        row.cells[1].textContent = `${shop.quantity(line.quantity)} × ${shop.money(line.unit_price)}`;
        row.cells[2].textContent = shop.money(line.line_total);
        return row;
      }),
    );
    document.getElementById("receipt-total").textContent = shop.money(sale.total);
    receipt.dataset.saleId = sale.id;
    receipt.hidden = false;
    root.classList.add("done");
    say("");
    document.getElementById("receipt-next").focus();
  }

  function nextSale() {
    basket.clear();
    saleId = null;
    receipt.hidden = true;
    customerClear();
    root.classList.remove("done");
    render();
    say("");
    search.focus();
  }

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
    } else if (event.key === "Escape" && !receipt.hidden) {
      event.preventDefault();
      nextSale();
    }
  });
  render();
})();
