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

  /* Red only when something waits and cannot go: events waiting while the last push failed, or events head office
     refused (parked until someone fixes their cause). Nothing to send is calm, whatever happened before: right after
     start-up a branch has often never pushed, or remembers a push that failed before it stopped. */
  function verdict(body) {
    const count = String(body.pending_events);
    if (body.parked_events > 0) return ["refused", window.shop.fill(text.parked, { count: String(body.parked_events) })];
    if (body.pending_events > 0 && !body.central_reachable && body.last_push_error)
      return ["unreachable", window.shop.fill(text.unreachable, { count })];
    if (body.pending_events > 0) return ["pending", window.shop.fill(text.pendingText, { count })];
    if (!body.last_push_ok_at) return ["idle", text.idle];
    return ["ok", text.ok];
  }

  let misses = 0;

  async function refresh() {
    clearTimeout(timer);
    try {
      const { status, body } = await window.shop.api(text.url);
      if (status !== 200 || !body) throw new Error(`status ${status}`);
      misses = 0;
      badge.dataset.pending = String(body.pending_events);
      const last = body.last_push_ok_at
        ? window.shop.fill(text.lastPush, { time: window.shop.clock(body.last_push_ok_at) })
        : "";
      show(...verdict(body), last);
    } catch (error) {
      // One unanswered poll is a busy moment, not a dead server: the badge turns red on the second in a row.
      misses += 1;
      if (misses > 1 || !badge.dataset.state) show("offline", text.offline);
    }
    timer = setTimeout(refresh, Number(text.interval) || 2000);
  }

  window.shopSync = { refresh };
  refresh();
})();
