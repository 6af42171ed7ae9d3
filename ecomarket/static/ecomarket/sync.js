/* The sync badge on every branch page: what is waiting for head office, polled from the branch's own
   /api/v1/sync/status (local reads only, so it answers whether or not head office does). */
"use strict";
(function () {
  const badge = document.getElementById("sync-badge");
  if (!badge) return;
  const text = badge.dataset;
  let timer = null;

  function show(state, label, detail) {
    badge.dataset.state = state;
    badge.className = `badge badge-${state}`;
    badge.textContent = label;
    if (detail) {
      const small = document.createElement("small");
      small.textContent = ` · ${detail}`;
      badge.append(small);
    }
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const { status, body } = await window.shop.api(text.url);
      if (status !== 200 || !body) throw new Error(`status ${status}`);
      const count = String(body.pending_events);
      badge.dataset.pending = count;
      const last = window.shop.fill(text.lastPush, {
        time: body.last_push_ok_at ? window.shop.clock(body.last_push_ok_at) : text.never,
      });
      // Never pushed and never failed (a new branch with nothing to send) is not "unreachable".
      if (!body.central_reachable && body.last_push_error) show("unreachable", window.shop.fill(text.unreachable, { count }), last);
      else if (body.pending_events > 0) show("pending", window.shop.fill(text.pendingText, { count }), last);
      else show("ok", text.ok, last);
    } catch (error) {
      show("offline", text.offline);
    }
    timer = setTimeout(refresh, Number(text.interval) || 2000);
  }

  window.shopSync = { refresh };
  refresh();
})();
