/* The till's service worker: it keeps the till's page, scripts and styles so the till opens with the store's box
   unreachable (a reload, a closed tab, a restarted browser). Everything is asked of the box first, so a till never
   shows an old page while the box answers; the kept copy is used only when the box does not answer or answers
   502/503/504 (nginx in front of a stopped application). The API is never touched: pos.js decides what to do with
   a sale the box did not answer. */
"use strict";
const VERSION = "{{ version }}";
const CACHE = `ecomarket-till-${VERSION}`;
const PAGE = "{% url 'page-pos' %}";
const ASSETS = [{% for asset in assets %}"{{ asset|escapejs }}"{% if not forloop.last %}, {% endif %}{% endfor %}];
// A box that hangs is as unreachable as one that refuses: the page falls back to its copy after this long.
const PATIENCE_MS = 4000;

const unreachable = (response) => [502, 503, 504].includes(response.status);

async function fetchPatiently(request) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PATIENCE_MS);
  try {
    return await fetch(request, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

/* The till's page is kept only as a signed-in cashier sees it: a redirect to the login page must never be kept in
   its place. */
const keepable = (response) => response.ok && !response.redirected && response.type === "basic";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(ASSETS);
      try {
        const page = await fetch(PAGE, { credentials: "same-origin" });
        if (keepable(page)) await cache.put(PAGE, page);
      } catch (error) {
        // The page is kept the next time it is opened.
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("ecomarket-till-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

async function fromBoxOrKept(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetchPatiently(request);
    if (!unreachable(response)) {
      if (keepable(response)) await cache.put(key, response.clone());
      return response;
    }
  } catch (error) {
    // Refused, reset or timed out: the box is away.
  }
  const kept = await cache.match(key);
  if (kept) return kept;
  return new Response("", { status: 503, statusText: "Branch server unreachable" });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === PAGE) {
    event.respondWith(fromBoxOrKept(request, PAGE));
  } else if (ASSETS.includes(url.pathname)) {
    event.respondWith(fromBoxOrKept(request, url.pathname));
  }
});
