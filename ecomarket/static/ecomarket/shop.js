/* EcoMarket pages: numbers in the user's language (separators come from the server, so the page and the
   server format alike), and one way to call the branch's API with the session's CSRF token. */
"use strict";
(function () {
  const formats = JSON.parse(document.getElementById("script-settings").textContent);
  const lang = document.documentElement.lang || "es";

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, formats.thousands);
  }

  /* A decimal string ("1234.5") with `places` decimals, rounded half up, as the user's language writes it. */
  function number(value, places) {
    // Anything but a decimal string (a half-typed quantity) is shown as it is: a page never stops drawing on it.
    if (!/^\s*-?\d*(\.\d*)?\s*$/.test(String(value))) return String(value);
    const negative = String(value).trim().startsWith("-");
    const [whole, fraction = ""] = String(value).trim().replace("-", "").split(".");
    let digits = BigInt(whole || "0") * 10n ** BigInt(places);
    const kept = (fraction + "0".repeat(places + 1)).slice(0, places + 1);
    digits += BigInt(kept.slice(0, places) || "0") + (Number(kept[places]) >= 5 ? 1n : 0n);
    const text = digits.toString().padStart(places + 1, "0");
    const integer = group(text.slice(0, text.length - places));
    const decimals = places ? formats.decimal + text.slice(text.length - places) : "";
    return (negative && digits !== 0n ? "-" : "") + integer + decimals;
  }

  const shop = {
    lang,
    formats,
    money: (value) => `${formats.currency} ${number(value, 2)}`,
    // As many decimals as the value needs (1,25 kg; 3 units), like the server's `quantity` filter.
    quantity: (value) => number(value, (String(value).split(".")[1] || "").replace(/0+$/, "").length),
    clock: (iso) =>
      new Intl.DateTimeFormat(lang, { timeStyle: "medium", timeZone: formats.time_zone }).format(new Date(iso)),
    time: (iso) =>
      new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium", timeZone: formats.time_zone }).format(
        new Date(iso),
      ),
    /* What the user typed ("1,25" in Spanish) as the API's decimal string ("1.25"), or null. */
    parseQuantity(text) {
      const plain = String(text).trim().split(formats.decimal).join(".");
      return /^\d{1,9}(\.\d{1,3})?$/.test(plain) ? plain : null;
    },
    fill: (template, values) => template.replace(/%\((\w+)\)s/g, (_, key) => (key in values ? values[key] : "")),
    uuid() {
      if (window.crypto.randomUUID) return window.crypto.randomUUID();
      // Plain http on a store's LAN is not a secure context: build a version 4 UUID from getRandomValues.
      const bytes = window.crypto.getRandomValues(new Uint8Array(16));
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
    signingIn: false,
    beforeLogin: null,
    /* fetch() against this server with the session cookie; resolves to {status, body}, rejects if unreachable or
       if no answer came within `timeout` milliseconds (when given). */
    async api(url, { method = "GET", body, timeout } = {}) {
      const csrf = document.cookie.match(new RegExp(`(?:^|;\\s*)${formats.csrf_cookie}=([^;]+)`));
      const response = await fetch(url, {
        method,
        ...(timeout ? { signal: AbortSignal.timeout(timeout) } : {}),
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          ...(body ? { "Content-Type": "application/json" } : {}),
          ...(csrf ? { "X-CSRFToken": decodeURIComponent(csrf[1]) } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (response.status === 401 && !shop.signingIn) {
        // The staff session expired (or was ended): off to the login page, which brings the user back here. A
        // page keeps what it must first (shop.beforeLogin: the till's basket).
        shop.signingIn = true;
        if (shop.beforeLogin) shop.beforeLogin();
        const back = window.location.pathname + window.location.search;
        window.location.assign(`${formats.login_url}?next=${encodeURIComponent(back)}`);
      }
      let data = null;
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
      return { status: response.status, body: data };
    },
  };
  window.shop = shop;
  // A page's print button (a receipt, a slip, a Z): the page's own script, since the policy allows no inline one.
  document.addEventListener("click", (event) => {
    if (event.target.closest("button[data-print]")) window.print();
  });
})();
