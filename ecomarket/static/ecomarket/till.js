/* The till's register and its cash drawer, beside pos.js's basket: the device is pinned to one register (chosen once,
   kept in localStorage); the bar shows that register's open cash session, opens one with its float, and offers cash
   in/out, the X report and the blind close, which ends on the Z page for printing. Also the on-screen keypad.
   pos.js asks window.till which register to sell on and whether it may sell at all. */
"use strict";
(function () {
  const shop = window.shop;
  const root = document.getElementById("pos");
  const text = root.dataset;
  const config = JSON.parse(document.getElementById("pos-config").textContent);
  const REGISTER = "ecomarket.till.register";
  const KEYPAD = "ecomarket.till.keypad";
  const bar = document.getElementById("till");
  const sessionText = document.getElementById("till-session");
  const openForm = document.getElementById("session-open");
  const actions = document.getElementById("drawer-actions");
  const registerDialog = document.getElementById("register-dialog");
  let session = null; // this register's open session, as the API last answered
  let looked = false; // whether the API answered at all (an unreachable server is not "no session")
  let kept = null; // with the box away: the session as the box last gave it, and when ({session, at})

  const sessionUrl = (id, tail = "") => config.urls.session.replace(config.no_session, id) + tail;
  const pinned = () => config.registers.find((register) => register.code === localStorage.getItem(REGISTER)) || null;

  function money(typed) {
    const plain = String(typed).trim().split(shop.formats.decimal).join(".");
    return /^\d{1,9}(\.\d{1,2})?$/.test(plain) ? plain : null;
  }

  function refusal(body, status) {
    const template = body && config.refusals[body.code];
    return template ? shop.fill(template, body) : (body && body.detail) || `HTTP ${status}`;
  }

  function say(element, message, kind = "error") {
    element.textContent = message;
    element.className = `message ${message ? kind : ""}`;
  }

  /* The drawer needs the box: with it away, nothing is queued; the till says so and goes on selling. Answers
     {status: null} when the box did not answer. */
  async function boxOrSay(url, options) {
    let answer;
    try {
      answer = await shop.api(url, options);
    } catch (error) {
      answer = { status: null, body: null };
    }
    if (answer.status === null || [502, 503, 504].includes(answer.status)) {
      window.till.message(text.needsBox);
      return { status: null, body: null };
    }
    return answer;
  }

  // ---- which register ----
  function registerAsk() {
    const current = pinned();
    document.getElementById("register-choices").replaceChildren(
      ...config.registers.map((register, index) => {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "radio";
        input.name = "register";
        input.value = register.code;
        input.checked = current ? current.code === register.code : index === 0;
        label.append(input, ` ${register.code} · ${register.name}`);
        return label;
      }),
    );
    // Not modal: in headless Chromium, a modal dialog shown at page load left the page taking no typing after it
    // closed, and a till that cannot be scanned into is worse than one whose other controls stay clickable.
    registerDialog.show();
  }

  document.getElementById("register-form").addEventListener("submit", () => {
    const chosen = registerDialog.querySelector('input[name="register"]:checked');
    if (chosen) localStorage.setItem(REGISTER, chosen.value);
    refresh();
  });
  document.getElementById("till-change").addEventListener("click", registerAsk);

  // ---- its session ----
  async function refresh() {
    const register = pinned();
    session = null;
    looked = false;
    kept = null;
    if (register) {
      try {
        const url = `${config.urls.sessions}?register=${encodeURIComponent(register.code)}&status=open`;
        const { status, body } = await shop.api(url);
        looked = status === 200;
        session = (looked && body.results && body.results[0]) || null;
      } catch (error) {
        looked = false;
      }
      // What the box said is kept for when it is away; then it is shown with the time it was true.
      if (looked && window.tillStore) await window.tillStore.sessionKeep(register.code, session);
      if (!looked && window.tillStore) kept = (await window.tillStore.sessionKept(register.code)) || null;
    }
    show();
    // The till has asked its box about the drawer (or found it away): what it shows now is settled.
    bar.dataset.checked = "true";
  }

  function show() {
    const register = pinned();
    bar.hidden = !config.registers.length;
    document.getElementById("till-register").textContent = register
      ? shop.fill(text.registerOf, register)
      : text.noRegister;
    bar.dataset.register = register ? register.code : "";
    bar.dataset.session = session ? session.id : "";
    openForm.hidden = !register || !looked || Boolean(session);
    actions.hidden = !session;
    sessionText.textContent = session
      ? shop.fill(text.sessionOpen, {
          time: shop.time(session.opened_at),
          who: session.opened_by || "–",
          float: shop.money(session.opening_float),
        })
      : register && looked
        ? text.noSession
        : kept && kept.session
          ? shop.fill(text.sessionKept, { time: shop.time(kept.session.opened_at), at: shop.clock(kept.at) })
          : "";
    bar.classList.toggle("needs-session", Boolean(register && looked && !session && config.sessions_required));
  }

  openForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("opening-float");
    const float = money(input.value);
    if (float === null) {
      input.setAttribute("aria-invalid", "true");
      return window.till.message(text.badAmount);
    }
    input.removeAttribute("aria-invalid");
    // The id is kept until the session is open, so a second press after a lost answer cannot open two.
    openForm.dataset.id = openForm.dataset.id || shop.uuid();
    const { status, body } = await boxOrSay(config.urls.sessions, {
      method: "POST",
      body: { id: openForm.dataset.id, register: pinned().code, opening_float: float },
    });
    if (status === null) return;
    if (status === 200 || status === 201 || (body && body.code === "session_open")) {
      // Opened here, or on another device of the same register meanwhile: either way, show the open one.
      delete openForm.dataset.id;
      input.value = "";
      window.till.message("");
      await refresh();
      document.getElementById("pos-search").focus();
    } else if (status !== 401) {
      window.till.message(refusal(body, status));
    }
  });

  // ---- cash in / out ----
  const moveDialog = document.getElementById("move-dialog");
  document.getElementById("till-move").addEventListener("click", () => {
    moveDialog.dataset.id = shop.uuid();
    document.getElementById("move-amount").value = "";
    document.getElementById("move-reason").value = "";
    say(document.getElementById("move-message"), "");
    moveDialog.showModal();
  });
  document.getElementById("move-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("move-message");
    const amountInput = document.getElementById("move-amount");
    const amount = money(amountInput.value);
    if (amount === null || Number(amount) === 0) {
      amountInput.setAttribute("aria-invalid", "true");
      return say(message, text.badAmount);
    }
    amountInput.removeAttribute("aria-invalid");
    const kind = moveDialog.querySelector('input[name="move-kind"]:checked').value;
    const { status, body } = await boxOrSay(sessionUrl(session.id, "/movements"), {
      method: "POST",
      body: { id: moveDialog.dataset.id, kind, amount, reason: document.getElementById("move-reason").value.trim() },
    });
    if (status === null) return say(message, text.needsBox);
    if (status === 200 || status === 201) {
      moveDialog.close();
      window.till.message(
        shop.fill(text.moved, { kind: kind === "in" ? text.cashIn : text.cashOut, amount: shop.money(amount) }),
        "info",
      );
    } else if (status !== 401) {
      say(message, refusal(body, status));
      if (body && body.code === "session_closed") refresh();
    }
  });

  // ---- the X report: a manager sees every figure; a cashier, none that tells what the drawer should hold ----
  const xDialog = document.getElementById("x-dialog");
  document.getElementById("till-x").addEventListener("click", async () => {
    const { status, body } = await boxOrSay(sessionUrl(session.id, "/report"));
    if (status === null) return;
    if (status !== 200) return status === 401 || window.till.message(refusal(body, status));
    const labels = xDialog.dataset;
    const rows = [
      [labels.sales, String(body.sales_count)],
      [labels.numbers, body.first_sale_number ? `#${body.first_sale_number}–#${body.last_sale_number}` : "–"],
      ...body.by_method
        .filter((row) => config.manager || row.method !== "cash")
        .map((row) => [config.payments[row.method] || row.method, shop.money(row.net)]),
      [labels.returns, String(body.returns)],
      [labels.voids, String(body.voids)],
      [labels.float, shop.money(body.opening_float)],
      [labels.in, shop.money(body.cash_in)],
      [labels.out, shop.money(body.cash_out)],
      ...(config.manager ? [[labels.expected, shop.money(body.expected_cash)]] : [[labels.blind, ""]]),
    ];
    document.getElementById("x-register").textContent = body.register;
    xDialog.querySelector("tbody").replaceChildren(
      ...rows.map(([label, value]) => {
        const row = document.createElement("tr");
        row.innerHTML = '<th></th><td class="num"></td>';
        row.cells[0].textContent = label;
        row.cells[1].textContent = value;
        return row;
      }),
    );
    xDialog.showModal();
  });

  // ---- the blind close: nothing on the till says what the drawer should hold; a count too far off asks for a
  // manager, who types their own login; then the Z page, laid out for the receipt printer ----
  const closeDialog = document.getElementById("close-dialog");
  const approval = document.getElementById("close-approval");
  document.getElementById("till-close").addEventListener("click", () => {
    approval.hidden = true;
    for (const id of ["close-counted", "approval-username", "approval-password"]) document.getElementById(id).value = "";
    say(document.getElementById("close-message"), "");
    closeDialog.showModal();
  });
  document.getElementById("close-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("close-message");
    const countedInput = document.getElementById("close-counted");
    const counted = money(countedInput.value);
    if (counted === null) {
      countedInput.setAttribute("aria-invalid", "true");
      return say(message, text.badAmount);
    }
    countedInput.removeAttribute("aria-invalid");
    const username = document.getElementById("approval-username").value.trim();
    const body = {
      counted: { cash: counted },
      ...(username ? { approval: { username, password: document.getElementById("approval-password").value } } : {}),
    };
    const answer = await boxOrSay(sessionUrl(session.id, "/close"), { method: "POST", body });
    if (answer.status === null) return say(message, text.needsBox);
    if (answer.status === 200 || answer.status === 201) {
      window.location.assign(config.urls.z.replace(config.no_session, session.id));
    } else if (answer.body && answer.body.code === "approval_required") {
      approval.hidden = false;
      say(message, username ? refusal(answer.body, answer.status) : text.approval, "ask");
      document.getElementById("approval-username").focus();
    } else if (answer.status !== 401) {
      say(message, refusal(answer.body, answer.status));
      if (answer.body && answer.body.code === "session_closed") refresh();
    }
  });

  for (const button of root.querySelectorAll("dialog [data-cancel]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }

  // ---- the on-screen keypad: types into the field the cashier was in (the finder, a quantity, an amount) ----
  const keypad = document.getElementById("keypad");
  const keypadButton = document.getElementById("pos-keypad");
  let field = document.getElementById("pos-search");
  root.addEventListener("focusin", (event) => {
    if (event.target.matches("input:not([type=radio]):not([type=checkbox])") && !event.target.closest("dialog")) {
      field = event.target;
    }
  });
  document.getElementById("keypad-decimal").textContent = shop.formats.decimal;
  document.getElementById("keypad-decimal").dataset.key = shop.formats.decimal;

  function keypadShow(on) {
    keypad.hidden = !on;
    keypadButton.setAttribute("aria-pressed", String(on));
    localStorage.setItem(KEYPAD, on ? "on" : "off");
  }

  keypadButton.addEventListener("click", () => keypadShow(keypad.hidden));
  // A press on a key must not take the focus from the field it types into.
  keypad.addEventListener("pointerdown", (event) => event.preventDefault());
  keypad.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-key]")?.dataset.key;
    if (!key || !document.body.contains(field)) return;
    field.focus();
    if (key === "Enter") {
      field.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
      return;
    }
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? field.value.length;
    if (key === "Backspace") {
      const from = start === end ? Math.max(0, start - 1) : start;
      field.setRangeText("", from, end, "end");
    } else {
      field.setRangeText(key, start, end, "end");
    }
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
  const stored = localStorage.getItem(KEYPAD);
  keypadShow(stored ? stored === "on" : window.matchMedia("(pointer: coarse)").matches);

  window.till = {
    register: () => (pinned() ? pinned().code : ""),
    /* Why the till may not sell now ("" if it may): a store with registers sells on one; where cash sessions are
       required, only while its session is open. Brings up what fixes it. */
    blocked() {
      if (!config.registers.length) return "";
      if (!pinned()) {
        registerAsk();
        return text.noRegister;
      }
      if (config.sessions_required && looked && !session) {
        document.getElementById("opening-float").focus();
        return text.noSession;
      }
      return "";
    },
    refresh,
    message(message, kind = "error") {
      const out = document.getElementById("pos-message");
      out.textContent = message;
      out.className = `message ${message ? kind : ""}`;
    },
  };

  show();
  if (config.registers.length && !pinned()) registerAsk();
  refresh();
})();
